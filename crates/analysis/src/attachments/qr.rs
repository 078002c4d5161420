//! QR codes in images, decoded with `rqrr`.
//!
//! Images are checked by their header first: too small to hold a readable
//! QR code, too large for the pixel limit, or not a raster format, they are
//! skipped without decoding. JPEG images, the largest in mail, are decoded
//! straight to grey with `zune-jpeg`, which skips the colour conversion.
//! PNG and GIF images are decoded row by row, and only the grey values of
//! the rows detection needs are kept, so no buffer of the full image is
//! allocated (interlaced PNG images still go through `image`).
//! Detection runs on a small copy first and on a larger one only when the
//! small copy showed a code it could not read.

use std::io::Cursor;

use image::{DynamicImage, GenericImage, GenericImageView, GrayImage, ImageFormat, ImageReader, Luma, Pixel};
use rqrr::PreparedImage;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::config::Limits;

/// A version 1 QR code is 21 modules wide plus a quiet zone of 4 on each
/// side; below two pixels per module phones and decoders fail to read it,
/// so an image narrower than this holds no QR code worth reporting.
const MIN_SIDE: u32 = 58;
/// Longest side of the first, cheap detection pass.
const FIRST_PASS_SIDE: u32 = 480;
/// Longest side of the second pass on large images.
const MAX_DETECTION_SIDE: u32 = 1_400;

/// Outcome of searching an image.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QrScan {
    /// Decoded texts (possibly none).
    Found(Vec<String>),
    /// Not searched because the image is too small or not an image.
    Skipped,
    /// Not searched because of a limit; the reason names it.
    OverLimit(String),
}

/// An image ready to be turned into grey copies for detection.
enum Source<'a> {
    /// A JPEG decoded straight to grey.
    Gray(GrayImage),
    /// A WebP, BMP or interlaced PNG image decoded by `image`.
    Color(DynamicImage),
    /// A non-interlaced PNG image, decoded row by row for each copy.
    Png(&'a [u8]),
    /// A GIF image, decoded row by row for each copy.
    Gif(&'a [u8]),
}

/// Searches an image for QR codes.
pub(crate) fn scan(bytes: &[u8], limits: &Limits) -> QrScan {
    if bytes.len() > limits.max_image_bytes {
        return QrScan::OverLimit(format!(
            "image of {} bytes exceeds the limit of {}",
            bytes.len(),
            limits.max_image_bytes
        ));
    }
    let Some(format) = raster_format(bytes) else {
        return QrScan::Skipped;
    };
    let Ok((width, height)) = ImageReader::with_format(Cursor::new(bytes), format).into_dimensions() else {
        return QrScan::Skipped;
    };
    if width.min(height) < MIN_SIDE {
        return QrScan::Skipped;
    }
    if u64::from(width) * u64::from(height) > limits.max_image_pixels {
        return QrScan::OverLimit(format!(
            "image of {width}x{height} pixels exceeds the limit of {} pixels",
            limits.max_image_pixels
        ));
    }

    if format == ImageFormat::Jpeg && is_photograph(bytes.len(), width, height) {
        return QrScan::Skipped;
    }

    let source = match format {
        ImageFormat::Jpeg => decode_jpeg_gray(bytes, width, height).map(Source::Gray),
        ImageFormat::Png if !grey::is_interlaced_png(bytes) => Some(Source::Png(bytes)),
        ImageFormat::Gif => Some(Source::Gif(bytes)),
        _ => decode_other(bytes, format, width, height, limits).map(Source::Color),
    };
    match source.and_then(|source| decode_codes(&source, width, height, limits)) {
        Some(texts) => QrScan::Found(texts),
        None => QrScan::Skipped,
    }
}

/// A large JPEG that spends more than 1.2 bits per pixel is a photograph:
/// flat, two-tone content such as a QR code, a rendered document or a
/// screenshot compresses far better. Decoding a photograph costs
/// milliseconds and phishing mail carries no QR codes in them.
///
/// NOTE: this skips a QR code photographed on paper inside a large JPEG.
fn is_photograph(size: usize, width: u32, height: u32) -> bool {
    let pixels = u64::from(width) * u64::from(height);
    pixels > 1_000_000 && (size as u64) * 8 * 10 > pixels * 12
}

fn raster_format(bytes: &[u8]) -> Option<ImageFormat> {
    let format = image::guess_format(bytes).ok()?;
    matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Bmp)
        .then_some(format)
}

fn decode_jpeg_gray(bytes: &[u8], width: u32, height: u32) -> Option<GrayImage> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(width as usize)
        .set_max_height(height as usize);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let pixels = decoder.decode().ok()?;
    let (decoded_width, decoded_height) = decoder.dimensions()?;
    GrayImage::from_raw(decoded_width as u32, decoded_height as u32, pixels)
}

/// Returns the allocation limit handed to the decoders: eight bytes
/// (16-bit RGBA) for each pixel the limits allow.
fn max_alloc(limits: &Limits) -> u64 {
    limits.max_image_pixels.saturating_mul(8)
}

fn decode_other(bytes: &[u8], format: ImageFormat, width: u32, height: u32, limits: &Limits) -> Option<DynamicImage> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    decoder_limits.max_alloc = Some(max_alloc(limits));
    reader.limits(decoder_limits);
    reader.decode().ok()
}

/// Detects and decodes QR codes: first on a small copy of the image, then,
/// only when that copy showed a code it could not decode, on a larger copy.
/// Detection costs tens of nanoseconds per pixel, so the small pass keeps
/// the common case (no QR code) cheap. Returns `None` when the image
/// cannot be decoded.
///
/// NOTE: a QR code smaller than about a tenth of the longest side of a large
/// image (a small code in a full-page scan) may not be seen by the small
/// pass and then is missed.
fn decode_codes(source: &Source<'_>, width: u32, height: u32, limits: &Limits) -> Option<Vec<String>> {
    let (width, height) = match source {
        Source::Gray(gray) => gray.dimensions(),
        Source::Color(color) => (color.width(), color.height()),
        Source::Png(_) | Source::Gif(_) => (width, height),
    };
    let longest = width.max(height);
    let first = Plane::new(width, height, longest.min(FIRST_PASS_SIDE));
    let (texts, grids) = detect(grey_copy(source, &first, limits)?, &first);
    if !texts.is_empty() || grids == 0 || longest <= FIRST_PASS_SIDE {
        return Some(texts);
    }
    let second = Plane::new(width, height, longest.min(MAX_DETECTION_SIDE));
    Some(detect(grey_copy(source, &second, limits)?, &second).0)
}

/// Computes the grey copy of `plane`. Every source gives the same values
/// for the same image: `DynamicImage::to_luma8` values at full size, BT.601
/// luma of point-sampled pixels in a smaller copy.
fn grey_copy(source: &Source<'_>, plane: &Plane, limits: &Limits) -> Option<Vec<u8>> {
    match source {
        Source::Gray(gray) => Some(grey::from_gray(gray, plane)),
        Source::Color(color) => Some(grey::from_dynamic(color, plane)),
        Source::Png(bytes) => grey::from_png(bytes, plane, max_alloc(limits)),
        Source::Gif(bytes) => grey::from_gif(bytes, plane, max_alloc(limits)),
    }
}

/// Runs detection on the grey copy `pixels` of `plane`. Returns the decoded
/// texts and the number of grids found.
///
/// The copy is thresholded here, with rqrr's arithmetic, and rqrr gets the
/// black and white result: `prepare_from_greyscale` would compute the same
/// pixels with three integer divisions each. The thresholded copy, 1 for
/// black and 0 for white, is already rqrr's own pixel encoding, so it is
/// handed over as a [`Bitmap`] instead of being rebuilt pixel by pixel.
fn detect(mut pixels: Vec<u8>, plane: &Plane) -> (Vec<String>, usize) {
    threshold::apply(&mut pixels, plane.width);
    let (Ok(width), Ok(height)) = (u32::try_from(plane.width), u32::try_from(plane.height)) else {
        return (Vec::new(), 0);
    };
    let mut prepared = PreparedImage::without_preparation(Bitmap { width, height, pixels });
    let grids = prepared.detect_grids();
    let mut texts = Vec::new();
    for grid in grids.iter().take(8) {
        if let Ok((_, text)) = grid.decode()
            && !text.is_empty()
            && !texts.contains(&text)
        {
            texts.push(text);
        }
    }
    (texts, grids.len())
}

/// A thresholded copy in rqrr's pixel encoding (0 white, 1 black, higher
/// values for the regions rqrr marks while it searches), with `pixels` row
/// by row. rqrr (with its default `img` feature) reads any `image` pixel
/// container of `Luma<u8>`. A `GrayImage` checks both coordinates on every
/// access, which made detection about a quarter slower in callgrind than
/// this single index.
#[derive(Clone)]
struct Bitmap {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Bitmap {
    fn index(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }
}

impl GenericImageView for Bitmap {
    type Pixel = Luma<u8>;

    fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn get_pixel(&self, x: u32, y: u32) -> Luma<u8> {
        Luma([self.pixels[self.index(x, y)]])
    }
}

impl GenericImage for Bitmap {
    fn get_pixel_mut(&mut self, x: u32, y: u32) -> &mut Luma<u8> {
        let index = self.index(x, y);
        Luma::from_slice_mut(&mut self.pixels[index..=index])
    }

    fn put_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        let index = self.index(x, y);
        self.pixels[index] = pixel.0[0];
    }

    fn blend_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        let index = self.index(x, y);
        Luma::from_slice_mut(&mut self.pixels[index..=index]).blend(&pixel);
    }
}

/// The size of a grey copy for detection and the source pixels it takes.
struct Plane {
    width: usize,
    height: usize,
    /// The sampled source pixels, or `None` for a copy at full size.
    grid: Option<SampleGrid>,
}

impl Plane {
    /// Plans a copy whose longest side is `side`, at most the longest side
    /// of the image.
    fn new(width: u32, height: u32, side: u32) -> Self {
        if side >= width.max(height) {
            return Plane { width: width as usize, height: height as usize, grid: None };
        }
        let grid = SampleGrid::new(width, height, side);
        Plane { width: grid.columns.len(), height: grid.rows.len(), grid: Some(grid) }
    }
}

/// Source pixels picked by point sampling for a copy whose longest side is
/// `side`: output pixel (x, y) takes source pixel (`columns[x]`, `rows[y]`).
/// Point sampling costs one look-up per output pixel, whatever the size of
/// the original, and QR modules survive it at two or more pixels per module.
struct SampleGrid {
    columns: Vec<usize>,
    rows: Vec<usize>,
}

impl SampleGrid {
    fn new(width: u32, height: u32, side: u32) -> Self {
        let longest = width.max(height);
        let scale = f64::from(side) / f64::from(longest);
        let new_width = ((f64::from(width) * scale) as u32).max(1);
        let new_height = ((f64::from(height) * scale) as u32).max(1);
        let source = |index: u32, length: u32, new_length: u32| {
            (u64::from(index) * u64::from(length) / u64::from(new_length)) as usize
        };
        SampleGrid {
            columns: (0..new_width).map(|x| source(x, width, new_width)).collect(),
            rows: (0..new_height).map(|y| source(y, height, new_height)).collect(),
        }
    }
}

/// Luma with the ITU-R BT.601 weights, in integers.
fn luma_601(red: u8, green: u8, blue: u8) -> u8 {
    ((u32::from(red) * 299 + u32::from(green) * 587 + u32::from(blue) * 114) / 1000) as u8
}

/// Grey copies of decoded and encoded images.
mod grey {
    use std::io::Cursor;

    use image::{DynamicImage, GenericImageView, GrayImage, ImageBuffer};

    use super::{Plane, SampleGrid, luma_601};

    /// Returns whether `bytes`, a PNG image, declares Adam7 interlacing. The
    /// interlace method is the last byte of the IHDR chunk, which the PNG
    /// format requires to come first.
    pub(super) fn is_interlaced_png(bytes: &[u8]) -> bool {
        bytes.get(28).is_some_and(|&method| method != 0)
    }

    pub(super) fn from_gray(gray: &GrayImage, plane: &Plane) -> Vec<u8> {
        let pixels = gray.as_raw();
        match &plane.grid {
            None => pixels.clone(),
            Some(grid) => sample(grid, gray.width() as usize, |index| pixels[index]),
        }
    }

    /// Computes the grey copy of a decoded image: `to_luma8` at full size,
    /// BT.601 luma of the sampled pixels otherwise. 16-bit and float images
    /// are read through `get_pixel`, which scales them to 8-bit RGBA.
    pub(super) fn from_dynamic(image: &DynamicImage, plane: &Plane) -> Vec<u8> {
        let Some(grid) = &plane.grid else {
            return image.to_luma8().into_raw();
        };
        let row_length = image.width() as usize;
        match image {
            DynamicImage::ImageLuma8(gray) => {
                let pixels = gray.as_raw();
                sample(grid, row_length, |index| pixels[index])
            }
            DynamicImage::ImageLumaA8(gray_alpha) => {
                let pixels = gray_alpha.as_raw();
                sample(grid, row_length, |index| pixels[index * 2])
            }
            DynamicImage::ImageRgb8(rgb) => {
                let pixels = rgb.as_raw();
                sample(grid, row_length, |index| {
                    luma_601(pixels[index * 3], pixels[index * 3 + 1], pixels[index * 3 + 2])
                })
            }
            DynamicImage::ImageRgba8(rgba) => {
                let pixels = rgba.as_raw();
                sample(grid, row_length, |index| {
                    luma_601(pixels[index * 4], pixels[index * 4 + 1], pixels[index * 4 + 2])
                })
            }
            other => sample(grid, row_length, |index| {
                let [red, green, blue, _] = other.get_pixel((index % row_length) as u32, (index / row_length) as u32).0;
                luma_601(red, green, blue)
            }),
        }
    }

    /// Collects `pixel(index)` for the sampled pixels, where `index` counts
    /// pixels of the source image row by row.
    fn sample(grid: &SampleGrid, row_length: usize, pixel: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut pixels = Vec::with_capacity(grid.columns.len() * grid.rows.len());
        for &y in &grid.rows {
            let start = y * row_length;
            pixels.extend(grid.columns.iter().map(|&x| pixel(start + x)));
        }
        pixels
    }

    /// Pixel layouts of decoded PNG rows, as `image` 0.25 maps them to its
    /// colour types.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Layout {
        L8,
        La8,
        Rgb8,
        Rgba8,
        L16,
        La16,
        Rgb16,
        Rgba16,
    }

    impl Layout {
        fn from_png((color, depth): (png::ColorType, png::BitDepth)) -> Option<Self> {
            use png::{BitDepth, ColorType};
            Some(match (color, depth) {
                (ColorType::Grayscale, BitDepth::Eight) => Layout::L8,
                (ColorType::GrayscaleAlpha, BitDepth::Eight) => Layout::La8,
                (ColorType::Rgb, BitDepth::Eight) => Layout::Rgb8,
                (ColorType::Rgba, BitDepth::Eight) => Layout::Rgba8,
                (ColorType::Grayscale, BitDepth::Sixteen) => Layout::L16,
                (ColorType::GrayscaleAlpha, BitDepth::Sixteen) => Layout::La16,
                (ColorType::Rgb, BitDepth::Sixteen) => Layout::Rgb16,
                (ColorType::Rgba, BitDepth::Sixteen) => Layout::Rgba16,
                _ => return None,
            })
        }

        fn channels(self) -> usize {
            match self {
                Layout::L8 | Layout::L16 => 1,
                Layout::La8 | Layout::La16 => 2,
                Layout::Rgb8 | Layout::Rgb16 => 3,
                Layout::Rgba8 | Layout::Rgba16 => 4,
            }
        }

        fn is_16_bit(self) -> bool {
            matches!(self, Layout::L16 | Layout::La16 | Layout::Rgb16 | Layout::Rgba16)
        }

        fn bytes_per_pixel(self) -> usize {
            self.channels() * if self.is_16_bit() { 2 } else { 1 }
        }
    }

    /// Decodes a non-interlaced PNG image row by row and keeps the grey
    /// values of the rows `plane` needs, so no buffer of the full image is
    /// allocated. The decoder is set up as `image` 0.25 sets up its own
    /// (`png::Transformations::EXPAND`, the same allocation limit, text
    /// chunks read), so it fails on the same images. Returns `None` when
    /// decoding fails or the image is interlaced.
    pub(super) fn from_png(bytes: &[u8], plane: &Plane, max_alloc: u64) -> Option<Vec<u8>> {
        let max_bytes = usize::try_from(max_alloc).unwrap_or(usize::MAX);
        let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: max_bytes });
        decoder.set_ignore_text_chunk(false);
        decoder.read_header_info().ok()?;
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().ok()?;
        if reader.info().interlaced {
            return None;
        }
        let (width, height) = reader.info().size();
        let layout = Layout::from_png(reader.output_color_type())?;
        let mut row = vec![0; reader.output_line_size(width)?];
        let mut output = Output::new(plane, height as usize, 0);
        // A full-size copy of a colour image is converted by `to_luma8` of
        // the whole decoded image, which costs less than one call per row.
        let mut decoded = Vec::new();

        for y in 0..height as usize {
            reader.read_row(&mut row).ok()??;
            match &plane.grid {
                None if layout == Layout::L8 => output.row(y)?.copy_from_slice(&row),
                None => decoded.extend_from_slice(&row),
                Some(grid) => {
                    if let Some(grey) = output.row(y) {
                        sample_row(layout, &row, grid, grey)?;
                    }
                }
            }
        }
        // After the last row `read_row` reads the rest of the image data
        // and its checksum, as `next_frame` does for `image`.
        if !matches!(reader.read_row(&mut row), Ok(None)) {
            return None;
        }
        if plane.grid.is_none() && layout != Layout::L8 {
            return Some(image_of(layout, decoded, width, height)?.to_luma8().into_raw());
        }
        Some(output.pixels)
    }

    /// Writes the BT.601 grey values of the sampled pixels of one decoded
    /// PNG row into `grey`. 16-bit pixels go through a one-row image and
    /// `get_pixel`, as they do for a whole decoded image.
    fn sample_row(layout: Layout, row: &[u8], grid: &SampleGrid, grey: &mut [u8]) -> Option<()> {
        let columns = grid.columns.iter().zip(grey.iter_mut());
        match layout {
            Layout::L8 => columns.for_each(|(&x, value)| *value = row[x]),
            Layout::La8 => columns.for_each(|(&x, value)| *value = row[x * 2]),
            Layout::Rgb8 => columns.for_each(|(&x, value)| {
                *value = luma_601(row[x * 3], row[x * 3 + 1], row[x * 3 + 2]);
            }),
            Layout::Rgba8 => columns.for_each(|(&x, value)| {
                *value = luma_601(row[x * 4], row[x * 4 + 1], row[x * 4 + 2]);
            }),
            _ => {
                let size = layout.bytes_per_pixel();
                let samples: Vec<u8> =
                    grid.columns.iter().flat_map(|&x| &row[x * size..(x + 1) * size]).copied().collect();
                let sampled = image_of(layout, samples, u32::try_from(grid.columns.len()).ok()?, 1)?;
                for (x, value) in grey.iter_mut().enumerate() {
                    let [red, green, blue, _] = sampled.get_pixel(x as u32, 0).0;
                    *value = luma_601(red, green, blue);
                }
            }
        }
        Some(())
    }

    /// Builds an image of `width` x `height` pixels from decoded PNG rows.
    /// 16-bit samples arrive big-endian from the decoder.
    fn image_of(layout: Layout, samples: Vec<u8>, width: u32, height: u32) -> Option<DynamicImage> {
        if !layout.is_16_bit() {
            return match layout {
                Layout::L8 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLuma8),
                Layout::La8 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLumaA8),
                Layout::Rgb8 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgb8),
                _ => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgba8),
            };
        }
        let samples: Vec<u16> = samples.chunks_exact(2).map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]])).collect();
        match layout {
            Layout::L16 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLuma16),
            Layout::La16 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLumaA16),
            Layout::Rgb16 => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgb16),
            _ => ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgba16),
        }
    }

    /// Decodes the first frame of a GIF image row by row as palette indices
    /// and keeps the grey values of the rows `plane` needs.
    ///
    /// `image` 0.25 decodes the frame to RGBA and places it on a canvas of
    /// the logical screen size: pixels outside the frame, and pixels whose
    /// index lies outside the palette, stay `[0, 0, 0, 0]`, and the
    /// transparent index gets alpha 0. A frame that does not span the
    /// canvas width goes through a buffer of its own, which must fit in the
    /// allocation limit left after the canvas. The same rules apply here, so
    /// the grey values and the failures are those of `image`.
    pub(super) fn from_gif(bytes: &[u8], plane: &Plane, max_alloc: u64) -> Option<Vec<u8>> {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(Cursor::new(bytes)).ok()?;
        let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
        let frame = decoder.next_frame_info().ok()??;
        let (left, top) = (u32::from(frame.left), u32::from(frame.top));
        let (frame_width, frame_height) = (u32::from(frame.width), u32::from(frame.height));
        let (interlaced, transparent) = (frame.interlaced, frame.transparent);

        let spans_width =
            left == 0 && frame_width == width && u64::from(top) + u64::from(frame_height) <= u64::from(height);
        let canvas_bytes = u64::from(width) * u64::from(height) * 4;
        let frame_bytes = u64::from(frame_width) * u64::from(frame_height) * 4;
        if !spans_width && frame_bytes > max_alloc.saturating_sub(canvas_bytes) {
            return None;
        }
        let greys = palette_greys(decoder.palette().ok()?, transparent, plane.grid.is_some())?;

        let blank = greys[BLANK];
        let mut output = Output::new(plane, height as usize, blank);
        // Canvas columns of the copy, as positions in the frame.
        let frame_columns: Vec<Option<usize>> = match &plane.grid {
            Some(grid) => grid.columns.clone(),
            None => (0..width as usize).collect(),
        }
        .into_iter()
        .map(|x| x.checked_sub(left as usize).filter(|&x| x < frame_width as usize))
        .collect();
        let mut indices = vec![0; frame_width as usize];
        for frame_y in frame_rows(frame_height as usize, interlaced)? {
            // `image` reads with RGBA output, where `gif` rejects an empty
            // buffer, so a frame of width 0 fails there.
            if indices.is_empty() || !decoder.fill_buffer(&mut indices).ok()? {
                return None;
            }
            let Some(grey) = output.row(top as usize + frame_y) else {
                continue;
            };
            for (value, column) in grey.iter_mut().zip(&frame_columns) {
                if let Some(x) = *column {
                    *value = greys[usize::from(indices[x])];
                }
            }
        }
        Some(output.pixels)
    }

    /// Index into the table of `palette_greys` for pixels outside the frame.
    const BLANK: usize = 256;

    /// Grey values of the 256 palette indices and of a blank canvas pixel
    /// (at `BLANK`), for a sampled copy (BT.601) or a full-size one
    /// (`to_luma8` of the RGBA pixels).
    fn palette_greys(palette: &[u8], transparent: Option<u8>, sampled: bool) -> Option<Vec<u8>> {
        let mut rgba = vec![0; (BLANK + 1) * 4];
        for (index, pixel) in rgba.chunks_exact_mut(4).take(256).enumerate() {
            if let Some(color) = palette.get(index * 3..index * 3 + 3) {
                pixel[..3].copy_from_slice(color);
                pixel[3] = if transparent == Some(index as u8) { 0 } else { 0xFF };
            }
        }
        if sampled {
            return Some(rgba.chunks_exact(4).map(|pixel| luma_601(pixel[0], pixel[1], pixel[2])).collect());
        }
        let image = ImageBuffer::from_raw(BLANK as u32 + 1, 1, rgba).map(DynamicImage::ImageRgba8)?;
        Some(image.to_luma8().into_raw())
    }

    /// Frame rows in the order GIF stores them: with interlacing every 8th
    /// row from 0, every 8th from 4, every 4th from 2, then every 2nd from 1.
    /// Returns `None` for an empty frame without interlacing, which `gif`
    /// rejects when it is read with RGBA output.
    fn frame_rows(height: usize, interlaced: bool) -> Option<Vec<usize>> {
        if !interlaced {
            return (height > 0).then(|| (0..height).collect());
        }
        let passes = [(0, 8), (4, 8), (2, 4), (1, 2)];
        Some(passes.iter().flat_map(|&(start, step)| (start..height).step_by(step)).collect())
    }

    /// A grey copy being filled from the rows of a decoded image.
    struct Output<'a> {
        plane: &'a Plane,
        pixels: Vec<u8>,
        /// For each source row, the row of the copy it fills, if any.
        targets: Vec<Option<usize>>,
    }

    impl<'a> Output<'a> {
        fn new(plane: &'a Plane, source_height: usize, blank: u8) -> Self {
            let mut targets = vec![None; source_height];
            match &plane.grid {
                Some(grid) => grid.rows.iter().enumerate().for_each(|(row, &y)| targets[y] = Some(row)),
                None => targets.iter_mut().enumerate().for_each(|(row, target)| *target = Some(row)),
            }
            Output { plane, pixels: vec![blank; plane.width * plane.height], targets }
        }

        /// Returns the row of the copy that source row `y` fills, if any.
        fn row(&mut self, y: usize) -> Option<&mut [u8]> {
            let row = (*self.targets.get(y)?)?;
            let width = self.plane.width;
            Some(&mut self.pixels[row * width..(row + 1) * width])
        }
    }
}

/// rqrr's adaptive threshold, computed faster.
mod threshold {
    /// Thresholds `pixels`, grey rows of `width` values, in place: 1 for
    /// black and 0 for white, exactly as `PreparedImage::prepare` of rqrr
    /// 0.11 does. rqrr keeps two running averages with a window of
    /// `width / 8` pixels that carry over from row to row, one walking each
    /// row from the left and one from the right (they swap directions on
    /// odd rows). A pixel is black when it is below 95 % of the mean of the
    /// two averages at its position.
    pub(super) fn apply(pixels: &mut [u8], width: usize) {
        if width == 0 {
            return;
        }
        let window = (width / 8).max(1) as u64;
        let divider = Divider::new(window);
        let step = |average: u64, pixel: u8| divider.divide(average * (window - 1)) + u64::from(pixel);
        let mut sums = vec![0u64; width];
        let (mut average_v, mut average_u) = (0u64, 0u64);

        for (y, row) in pixels.chunks_exact_mut(width).enumerate() {
            let (forward, backward) =
                if y % 2 == 0 { (&mut average_u, &mut average_v) } else { (&mut average_v, &mut average_u) };
            for (sum, &pixel) in sums.iter_mut().zip(row.iter()) {
                *forward = step(*forward, pixel);
                *sum = *forward;
            }
            // The backward walk completes each pixel's sum, so the pixel is
            // thresholded in the same step, after its grey value was read.
            // rqrr tests `pixel < sum * 95 / (200 * window)` with integer
            // division, which is true exactly when
            // `(pixel + 1) * 200 * window <= sum * 95`.
            for (&forward_sum, pixel) in sums.iter().zip(row.iter_mut()).rev() {
                *backward = step(*backward, *pixel);
                let sum = forward_sum + *backward;
                *pixel = u8::from((u64::from(*pixel) + 1) * 200 * window <= sum * 95);
            }
        }
    }

    /// Division by a fixed divisor `d` as a multiplication and a shift,
    /// exact for dividends below 2^31. With `l = ceil(log2 d)` and
    /// `m = floor(2^(32 + l) / d) + 1`, `m * d - 2^(32 + l)` lies in
    /// `1..=2^l`, so `(n * m) >> (32 + l)` equals `n / d` for every
    /// `n < 2^32` (the round-up method of division by invariant integers).
    /// The running averages stay at most `255 * d`, so the dividends
    /// `average * (d - 1)` stay below 2^31, and `n * m` below 2^64, for
    /// `d <= 2_048`. Larger divisors use the division instruction.
    struct Divider {
        divisor: u64,
        multiplier: u64,
        shift: u32,
    }

    impl Divider {
        const MAX_DIVISOR: u64 = 2_048;

        fn new(divisor: u64) -> Self {
            if divisor > Self::MAX_DIVISOR {
                return Divider { divisor, multiplier: 0, shift: 0 };
            }
            let shift = 32 + divisor.next_power_of_two().trailing_zeros();
            Divider { divisor, multiplier: (1 << shift) / divisor + 1, shift }
        }

        #[inline]
        fn divide(&self, dividend: u64) -> u64 {
            if self.multiplier == 0 { dividend / self.divisor } else { (dividend * self.multiplier) >> self.shift }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::Divider;

        #[test]
        fn divider_matches_division() {
            for divisor in 1..=Divider::MAX_DIVISOR + 2 {
                let divider = Divider::new(divisor);
                let max = 255 * divisor * divisor.saturating_sub(1);
                let multiples = (0..=255 * divisor.saturating_sub(1)).step_by(97).map(|k| k * divisor);
                for multiple in multiples.chain([max]) {
                    for dividend in [multiple.saturating_sub(1), multiple, multiple + 1] {
                        assert_eq!(divider.divide(dividend), dividend / divisor, "{dividend} / {divisor}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ExtendedColorType, ImageEncoder, Luma, Rgb, RgbImage, imageops};

    const TEXT: &str = "https://pay-fine.example-city.net/case?id=77310";

    /// Renders `TEXT` as a QR code with square modules of `module` pixels.
    fn code(module: u32) -> GrayImage {
        let code = qrcode::QrCode::new(TEXT.as_bytes()).expect("text fits in a QR code");
        code.render::<Luma<u8>>().module_dimensions(module, module).build()
    }

    /// Draws an RGB page of `width` x `height` pixels, light grey with a
    /// dark band, with the QR code near the middle.
    fn page(width: u32, height: u32, module: u32) -> RgbImage {
        let mut page =
            RgbImage::from_fn(
                width,
                height,
                |_, y| {
                    if y < height / 10 { Rgb([20, 40, 120]) } else { Rgb([235, 235, 235]) }
                },
            );
        let code = DynamicImage::ImageLuma8(code(module)).to_rgb8();
        let x = i64::from((width - code.width()) / 2);
        let y = i64::from((height - code.height()) / 2);
        imageops::overlay(&mut page, &code, x, y);
        page
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).expect("image is encoded");
        bytes.into_inner()
    }

    fn scan_with_defaults(bytes: &[u8]) -> QrScan {
        scan(bytes, &Limits::default())
    }

    /// Draws `page` with a band of many colours across the top, so the grey
    /// conversions see more than three colours.
    fn colourful_page(width: u32, height: u32, module: u32) -> RgbImage {
        let mut page = page(width, height, module);
        for y in 0..height / 12 {
            for x in 0..width {
                page.put_pixel(x, y, Rgb([(x * 7 % 256) as u8, (y * 13 % 256) as u8, ((x ^ y) % 256) as u8]));
            }
        }
        page
    }

    /// Pseudo-random bytes from a linear congruential generator.
    fn noise(seed: u32) -> impl FnMut() -> u8 {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        }
    }

    /// Plans the three copies detection can ask for: the first pass, the
    /// second pass and the full size.
    fn planes(width: u32, height: u32) -> Vec<Plane> {
        let longest = width.max(height);
        [FIRST_PASS_SIDE, MAX_DETECTION_SIDE, longest]
            .iter()
            .map(|&side| Plane::new(width, height, side.min(longest)))
            .collect()
    }

    /// Asserts that the row-by-row decoder gives every grey copy of `bytes`
    /// that decoding with `image` and converting the `DynamicImage` gives.
    fn assert_same_grey(bytes: &[u8], case: &str) {
        let limits = Limits::default();
        let format = raster_format(bytes).expect("raster image");
        let (width, height) =
            ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().expect("dimensions are read");
        let image = decode_other(bytes, format, width, height, &limits).expect("image decodes");
        let source = match format {
            ImageFormat::Png => Source::Png(bytes),
            ImageFormat::Gif => Source::Gif(bytes),
            other => panic!("{case}: no row-by-row decoder for {other:?}"),
        };
        for plane in planes(width, height) {
            let expected = grey::from_dynamic(&image, &plane);
            let actual = grey_copy(&source, &plane, &limits).expect("rows decode");
            assert_eq!(actual.len(), expected.len(), "{case}: size of the {}x{} copy", plane.width, plane.height);
            let difference = actual.iter().zip(&expected).position(|(left, right)| left != right);
            assert_eq!(difference, None, "{case}: first different pixel of the {}x{} copy", plane.width, plane.height);
        }
    }

    fn encode_png(
        width: u32,
        height: u32,
        setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
        data: &[u8],
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        setup(&mut encoder);
        let mut writer = encoder.write_header().expect("PNG header is written");
        writer.write_image_data(data).expect("PNG data is written");
        writer.finish().expect("PNG is finished");
        bytes
    }

    /// Indices into a 3-3-2 palette of 256 colours.
    fn palette_indices(page: &RgbImage) -> Vec<u8> {
        page.pixels().map(|Rgb([red, green, blue])| (red & 0xE0) | ((green & 0xE0) >> 3) | (blue >> 6)).collect()
    }

    fn palette_332() -> Vec<u8> {
        (0..=255u8).flat_map(|index| [index & 0xE0, (index << 3) & 0xE0, (index << 6) | 0x20]).collect()
    }

    /// PNG images of `page` in every colour type and bit depth that `image`
    /// decodes, with a description of each.
    fn png_variants(page: &RgbImage) -> Vec<(String, Vec<u8>)> {
        let colour = DynamicImage::ImageRgb8(page.clone());
        let (width, height) = page.dimensions();
        let mut next = noise(width ^ height);
        let mut rgba = colour.to_rgba8();
        rgba.pixels_mut().for_each(|pixel| pixel.0[3] = next());
        let mut gray_alpha = colour.to_luma_alpha8();
        gray_alpha.pixels_mut().for_each(|pixel| pixel.0[1] = next());
        // 16-bit samples with noise in the low byte, to exercise rounding.
        let mut rgba16 = colour.to_rgba16();
        rgba16.pixels_mut().for_each(|pixel| pixel.0.iter_mut().for_each(|sample| *sample ^= u16::from(next())));
        let mut gray16 = colour.to_luma16();
        gray16.pixels_mut().for_each(|pixel| pixel.0[0] ^= u16::from(next()));
        let images = [
            ("grey", DynamicImage::ImageLuma8(colour.to_luma8())),
            ("grey with alpha", DynamicImage::ImageLumaA8(gray_alpha)),
            ("RGB", colour.clone()),
            ("RGBA", DynamicImage::ImageRgba8(rgba)),
            ("16-bit grey", DynamicImage::ImageLuma16(gray16.clone())),
            ("16-bit grey with alpha", DynamicImage::ImageLumaA16(DynamicImage::ImageLuma16(gray16).to_luma_alpha16())),
            ("16-bit RGB", DynamicImage::ImageRgb16(DynamicImage::ImageRgba16(rgba16.clone()).to_rgb16())),
            ("16-bit RGBA", DynamicImage::ImageRgba16(rgba16)),
        ];
        let mut variants: Vec<(String, Vec<u8>)> =
            images.iter().map(|(kind, image)| (kind.to_string(), encode(image, ImageFormat::Png))).collect();

        let indices = palette_indices(page);
        let palette = palette_332();
        variants.push((
            "8-bit palette".to_owned(),
            encode_png(
                width,
                height,
                |encoder| {
                    encoder.set_color(png::ColorType::Indexed);
                    encoder.set_palette(palette.clone());
                },
                &indices,
            ),
        ));
        let alphas: Vec<u8> = (0..200u32).map(|index| (index * 37 % 256) as u8).collect();
        variants.push((
            "8-bit palette with transparency".to_owned(),
            encode_png(
                width,
                height,
                |encoder| {
                    encoder.set_color(png::ColorType::Indexed);
                    encoder.set_palette(palette.clone());
                    encoder.set_trns(alphas);
                },
                &indices,
            ),
        ));
        // 4-bit palette of 16 greys, tinted, two pixels a byte.
        let palette_16: Vec<u8> = (0..16u8).flat_map(|index| [index * 17, index * 16, index * 15]).collect();
        let row_bytes = width.div_ceil(2) as usize;
        let mut packed = vec![0; row_bytes * height as usize];
        for (y, row) in page.rows().enumerate() {
            for (x, Rgb([red, green, blue])) in row.enumerate() {
                let index = luma_601(*red, *green, *blue) >> 4;
                packed[y * row_bytes + x / 2] |= index << if x % 2 == 0 { 4 } else { 0 };
            }
        }
        variants.push((
            "4-bit palette".to_owned(),
            encode_png(
                width,
                height,
                |encoder| {
                    encoder.set_color(png::ColorType::Indexed);
                    encoder.set_depth(png::BitDepth::Four);
                    encoder.set_palette(palette_16);
                },
                &packed,
            ),
        ));
        // 1-bit grey, eight pixels a byte.
        let row_bytes = width.div_ceil(8) as usize;
        let mut packed = vec![0; row_bytes * height as usize];
        for (x, y, Rgb([red, green, blue])) in page.enumerate_pixels() {
            if luma_601(*red, *green, *blue) > 127 {
                packed[y as usize * row_bytes + x as usize / 8] |= 0x80 >> (x % 8);
            }
        }
        variants.push((
            "1-bit grey".to_owned(),
            encode_png(
                width,
                height,
                |encoder| {
                    encoder.set_color(png::ColorType::Grayscale);
                    encoder.set_depth(png::BitDepth::One);
                },
                &packed,
            ),
        ));
        variants
    }

    /// Encodes a GIF image with a logical screen of `width` x `height` and one frame
    /// of `page` at (`left`, `top`), with a 3-3-2 palette of `palette_size`
    /// colours (indices beyond it have no colour) and a transparent index.
    fn gif_frame(
        width: u16,
        height: u16,
        page: &RgbImage,
        left: u16,
        top: u16,
        interlaced: bool,
        palette_size: usize,
    ) -> Vec<u8> {
        let (frame_width, frame_height) = (page.width() as u16, page.height() as u16);
        let indices = palette_indices(page);
        let buffer: Vec<u8> = if interlaced {
            let rows = [(0, 8), (4, 8), (2, 4), (1, 2)]
                .iter()
                .flat_map(|&(start, step)| (start..usize::from(frame_height)).step_by(step));
            rows.flat_map(|y| indices[y * usize::from(frame_width)..(y + 1) * usize::from(frame_width)].to_vec())
                .collect()
        } else {
            indices
        };
        let mut bytes = Vec::new();
        let mut encoder = gif::Encoder::new(&mut bytes, width, height, &[]).expect("GIF header is written");
        let frame = gif::Frame {
            left,
            top,
            width: frame_width,
            height: frame_height,
            interlaced,
            transparent: Some(0xFF),
            palette: Some(palette_332()[..palette_size * 3].to_vec()),
            buffer: buffer.into(),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame).expect("GIF frame is written");
        drop(encoder);
        bytes
    }

    #[test]
    fn png_rows_match_image() {
        for (width, height, module) in [(300, 200, 4), (1_000, 700, 8), (1_600, 1_000, 10)] {
            let page = colourful_page(width, height, module);
            for (kind, bytes) in png_variants(&page) {
                assert_same_grey(&bytes, &format!("{kind} PNG of {width}x{height}"));
            }
        }
    }

    #[test]
    fn gif_rows_match_image() {
        for (width, height, module) in [(300, 200, 4), (1_000, 700, 8), (1_600, 1_000, 10)] {
            let page = colourful_page(width, height, module);
            let bytes = encode(&DynamicImage::ImageRgb8(page.clone()), ImageFormat::Gif);
            assert_same_grey(&bytes, &format!("GIF of {width}x{height} from image"));
            let (screen_width, screen_height) = (width as u16, height as u16);
            let cases = [
                ("full frame", screen_width, screen_height, 0, 0, false, 256),
                ("interlaced frame", screen_width, screen_height, 0, 0, true, 256),
                ("frame lower down", screen_width, screen_height + 40, 0, 40, false, 256),
                ("frame offset", screen_width + 60, screen_height + 30, 50, 20, true, 256),
                ("frame past the screen", screen_width - 30, screen_height - 20, 10, 5, false, 256),
                ("short palette", screen_width, screen_height, 0, 0, false, 100),
            ];
            for (kind, screen_width, screen_height, left, top, interlaced, palette_size) in cases {
                let bytes = gif_frame(screen_width, screen_height, &page, left, top, interlaced, palette_size);
                assert_same_grey(&bytes, &format!("GIF of {width}x{height}, {kind}"));
            }
        }
    }

    #[test]
    fn threshold_matches_rqrr() {
        let mut next = noise(7);
        let mut planes: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        for (width, height) in [(5, 9), (64, 40), (479, 300), (480, 480), (1_400, 90)] {
            planes.push((width, height, (0..width * height).map(|_| next()).collect()));
        }
        let page = DynamicImage::ImageRgb8(colourful_page(900, 600, 6)).to_luma8();
        planes.push((900, 600, page.into_raw()));
        for (width, height, pixels) in planes {
            let expected = PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
            let mut thresholded = pixels.clone();
            threshold::apply(&mut thresholded, width);
            let actual = PreparedImage::prepare_from_bitmap(width, height, |x, y| thresholded[y * width + x] == 1);
            for y in 0..height {
                for x in 0..width {
                    assert_eq!(
                        actual.get_pixel_at(x, y),
                        expected.get_pixel_at(x, y),
                        "{width}x{height} at ({x}, {y})"
                    );
                }
            }
        }
    }

    /// Detection on the [`Bitmap`] finds the grids and texts that rqrr
    /// finds when it thresholds the same grey copy itself.
    #[test]
    fn detect_matches_rqrr() {
        let mut pages = vec![
            ("code on a page", DynamicImage::ImageRgb8(page(700, 500, 5)).to_luma8()),
            ("two codes", DynamicImage::ImageRgb8(page(900, 300, 4)).to_luma8()),
            ("blank", GrayImage::from_pixel(300, 200, Luma([240]))),
        ];
        let mut second = pages[1].1.clone();
        imageops::overlay(&mut second, &code(4), 20, 20);
        pages[1].1 = second;
        for (kind, grey) in pages {
            let (width, height) = (grey.width() as usize, grey.height() as usize);
            let pixels = grey.into_raw();
            let mut reference = PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
            let reference_grids = reference.detect_grids();
            let mut reference_texts: Vec<String> =
                reference_grids.iter().filter_map(|grid| grid.decode().ok()).map(|(_, text)| text).collect();
            reference_texts.dedup();

            let plane = Plane { width, height, grid: None };
            let (texts, grids) = detect(pixels.clone(), &plane);

            assert_eq!(grids, reference_grids.len(), "{kind}: grids");
            assert_eq!(texts, reference_texts, "{kind}: texts");
            assert_eq!(texts.is_empty(), kind == "blank", "{kind}: {texts:?}");
        }
    }

    #[test]
    fn codes_found_in_every_png_kind() {
        for (width, height, module) in [(300, 200, 4), (1_000, 700, 8)] {
            let page = page(width, height, module);
            for (kind, bytes) in png_variants(&page) {
                assert_eq!(
                    scan_with_defaults(&bytes),
                    QrScan::Found(vec![TEXT.to_owned()]),
                    "{kind} PNG of {width}x{height}"
                );
            }
        }
    }

    #[test]
    fn codes_found_in_gif_frames() {
        let page = page(600, 400, 5);
        let cases = [("interlaced", 600, 400, 0, 0, true), ("offset", 700, 450, 60, 30, false)];
        for (kind, width, height, left, top, interlaced) in cases {
            let bytes = gif_frame(width, height, &page, left, top, interlaced, 256);
            assert_eq!(scan_with_defaults(&bytes), QrScan::Found(vec![TEXT.to_owned()]), "{kind} GIF frame");
        }
    }

    #[test]
    fn codes_found_in_webp_and_bmp() {
        for (width, height, module) in [(300, 200, 4), (1_600, 1_000, 10)] {
            let image = DynamicImage::ImageRgb8(page(width, height, module));
            for format in [ImageFormat::WebP, ImageFormat::Bmp] {
                let bytes = encode(&image, format);
                assert_eq!(
                    scan_with_defaults(&bytes),
                    QrScan::Found(vec![TEXT.to_owned()]),
                    "{format:?} of {width}x{height}"
                );
            }
        }
    }

    /// Truncated or corrupt images: the row-by-row decoders fail exactly
    /// where `image` fails, and give the same grey copy where it does not.
    #[test]
    fn damaged_images_fail_as_with_image() {
        let limits = Limits::default();
        let page = page(600, 400, 5);
        let png = encode(&DynamicImage::ImageRgb8(page.clone()), ImageFormat::Png);
        let gif = encode(&DynamicImage::ImageRgb8(page), ImageFormat::Gif);
        let plane = Plane::new(600, 400, 480);
        for (format, bytes) in [(ImageFormat::Png, png), (ImageFormat::Gif, gif)] {
            let mut damaged: Vec<(String, Vec<u8>)> = [40, 100, bytes.len() / 2, bytes.len() - 13, bytes.len() - 1]
                .iter()
                .map(|&length| (format!("cut to {length} bytes"), bytes[..length].to_vec()))
                .collect();
            for start in [60, bytes.len() / 2, bytes.len() - 40] {
                let mut corrupt = bytes.clone();
                corrupt[start..start + 16].iter_mut().for_each(|byte| *byte ^= 0x5A);
                damaged.push((format!("corrupt from byte {start}"), corrupt));
            }
            for (kind, bytes) in damaged {
                let source = if format == ImageFormat::Png { Source::Png(&bytes) } else { Source::Gif(&bytes) };
                let expected =
                    decode_other(&bytes, format, 600, 400, &limits).map(|image| grey::from_dynamic(&image, &plane));
                let actual = grey_copy(&source, &plane, &limits);
                assert_eq!(actual.is_some(), expected.is_some(), "{format:?} {kind} decodes");
                assert!(actual == expected, "{format:?} {kind}: grey copies differ");
                // `scan` must not panic whatever the outcome.
                let _ = scan(&bytes, &limits);
            }
        }
    }

    /// A GIF whose frame is far larger than its logical screen fails, as
    /// with `image`, once the frame exceeds the allocation limit left after
    /// the canvas.
    #[test]
    fn oversized_gif_frame_skipped() {
        let page = RgbImage::from_pixel(2_000, 1_000, Rgb([250, 250, 250]));
        let bytes = gif_frame(100, 100, &page, 0, 0, false, 256);
        let limits = Limits { max_image_pixels: 100 * 100, ..Limits::default() };
        assert_eq!(scan(&bytes, &limits), QrScan::Skipped);
        assert_eq!(scan_with_defaults(&bytes), QrScan::Found(Vec::new()));
        let (width, height) = (100, 100);
        assert!(decode_other(&bytes, ImageFormat::Gif, width, height, &limits).is_none());
    }

    #[test]
    fn grey_png_at_full_size() {
        let bytes = encode(&DynamicImage::ImageLuma8(code(6)), ImageFormat::Png);
        assert_eq!(scan_with_defaults(&bytes), QrScan::Found(vec![TEXT.to_owned()]));
    }

    #[test]
    fn large_pngs_scaled_down() {
        let colour = |width, height, module| DynamicImage::ImageRgb8(page(width, height, module));
        let images = [
            ("RGB", colour(3_840, 2_160, 24)),
            ("RGBA", DynamicImage::ImageRgba8(colour(2_000, 1_200, 12).to_rgba8())),
            ("grey with alpha", DynamicImage::ImageLumaA8(colour(1_600, 1_000, 10).to_luma_alpha8())),
            ("16-bit RGB", DynamicImage::ImageRgb16(colour(1_600, 1_000, 10).to_rgb16())),
        ];
        for (kind, image) in images {
            let bytes = encode(&image, ImageFormat::Png);
            assert_eq!(scan_with_defaults(&bytes), QrScan::Found(vec![TEXT.to_owned()]), "{kind} PNG");
        }
    }

    #[test]
    fn palette_gif_small_and_large() {
        for (width, height, module) in [(400, 300, 4), (1_800, 1_000, 12)] {
            let image = DynamicImage::ImageRgb8(page(width, height, module));
            let bytes = encode(&image, ImageFormat::Gif);
            assert_eq!(scan_with_defaults(&bytes), QrScan::Found(vec![TEXT.to_owned()]), "GIF of {width}x{height}");
        }
    }

    #[test]
    fn grey_jpeg_scaled_down() {
        let page = DynamicImage::ImageRgb8(page(1_200, 900, 10)).to_luma8();
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .write_image(page.as_raw(), page.width(), page.height(), ExtendedColorType::L8)
            .expect("JPEG is encoded");
        assert_eq!(scan_with_defaults(&bytes), QrScan::Found(vec![TEXT.to_owned()]));
    }

    #[test]
    fn page_without_code_finds_nothing() {
        let blank = RgbImage::from_pixel(1_000, 800, Rgb([250, 250, 250]));
        let bytes = encode(&DynamicImage::ImageRgb8(blank), ImageFormat::Png);
        assert_eq!(scan_with_defaults(&bytes), QrScan::Found(Vec::new()));
    }

    #[test]
    fn tiny_image_skipped() {
        let bytes = encode(&DynamicImage::ImageLuma8(GrayImage::new(40, 40)), ImageFormat::Png);
        assert_eq!(scan_with_defaults(&bytes), QrScan::Skipped);
    }
}
