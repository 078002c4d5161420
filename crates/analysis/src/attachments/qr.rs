//! QR codes in images, decoded with `rqrr`.
//!
//! Images are checked by their header first: too small to hold a readable
//! QR code, too large for the pixel limit, or not a raster format, they are
//! skipped without decoding. JPEG images, the largest in mail, are decoded
//! straight to grey with `zune-jpeg`, which skips the colour conversion.
//! Detection runs on a small copy first and on a larger one only when the
//! small copy showed a code it could not read.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, ImageReader};
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

/// A decoded image, grey when the decoder could produce grey directly.
enum Decoded {
    Gray(GrayImage),
    Color(DynamicImage),
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

    let decoded = if format == ImageFormat::Jpeg {
        decode_jpeg_gray(bytes, width, height).map(Decoded::Gray)
    } else {
        decode_other(bytes, format, width, height, limits).map(Decoded::Color)
    };
    match decoded.map(|image| decode_codes(&image)) {
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

fn decode_other(bytes: &[u8], format: ImageFormat, width: u32, height: u32, limits: &Limits) -> Option<DynamicImage> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    decoder_limits.max_alloc = Some(limits.max_image_pixels.saturating_mul(8));
    reader.limits(decoder_limits);
    reader.decode().ok()
}

/// Detects and decodes QR codes: first on a small copy of the image, then,
/// only when that copy showed a code it could not decode, on a larger copy.
/// Detection costs tens of nanoseconds per pixel, so the small pass keeps
/// the common case (no QR code) cheap.
///
/// NOTE: a QR code smaller than about a tenth of the longest side of a large
/// image (a small code in a full-page scan) may not be seen by the small
/// pass and then is missed.
fn decode_codes(image: &Decoded) -> Vec<String> {
    let (width, height) = dimensions(image);
    let longest = width.max(height);
    let (texts, grids) = detect(image, longest.min(FIRST_PASS_SIDE));
    if !texts.is_empty() || grids == 0 || longest <= FIRST_PASS_SIDE {
        return texts;
    }
    detect(image, longest.min(MAX_DETECTION_SIDE)).0
}

fn dimensions(image: &Decoded) -> (u32, u32) {
    match image {
        Decoded::Gray(gray) => gray.dimensions(),
        Decoded::Color(color) => (color.width(), color.height()),
    }
}

/// Runs detection on a grey copy whose longest side is `side`. Returns the
/// decoded texts and the number of grids found.
///
/// The grey pixels go straight into rqrr's own buffer, which indexes a
/// slice. Thresholding and detection through `GrayImage` cost more because
/// every pixel access there goes through the bounds-checked `GenericImage`
/// methods. A copy at full size has `DynamicImage::to_luma8` values, a
/// smaller one takes BT.601 luma of point-sampled pixels. rqrr does not
/// export its buffer type, so every branch calls `prepare_from_greyscale`
/// here instead of in a helper that would have to name that type.
fn detect(image: &Decoded, side: u32) -> (Vec<String>, usize) {
    let (width, height) = dimensions(image);
    let mut prepared = if side >= width.max(height) {
        let converted;
        let gray = match image {
            Decoded::Gray(gray) => gray,
            Decoded::Color(color) => {
                converted = color.to_luma8();
                &converted
            }
        };
        let row_length = gray.width() as usize;
        let pixels = gray.as_raw();
        PreparedImage::prepare_from_greyscale(row_length, gray.height() as usize, |x, y| pixels[y * row_length + x])
    } else {
        let grid = SampleGrid::new(width, height, side);
        let (columns, rows) = (&grid.columns, &grid.rows);
        let row_length = width as usize;
        let index = |x: usize, y: usize| rows[y] * row_length + columns[x];
        let (new_width, new_height) = (columns.len(), rows.len());
        match image {
            Decoded::Gray(gray) => {
                let pixels = gray.as_raw();
                PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| pixels[index(x, y)])
            }
            Decoded::Color(DynamicImage::ImageLuma8(gray)) => {
                let pixels = gray.as_raw();
                PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| pixels[index(x, y)])
            }
            Decoded::Color(DynamicImage::ImageLumaA8(gray_alpha)) => {
                let pixels = gray_alpha.as_raw();
                PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| pixels[index(x, y) * 2])
            }
            Decoded::Color(DynamicImage::ImageRgb8(rgb)) => {
                let pixels = rgb.as_raw();
                PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| {
                    let start = index(x, y) * 3;
                    luma_601(pixels[start], pixels[start + 1], pixels[start + 2])
                })
            }
            Decoded::Color(DynamicImage::ImageRgba8(rgba)) => {
                let pixels = rgba.as_raw();
                PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| {
                    let start = index(x, y) * 4;
                    luma_601(pixels[start], pixels[start + 1], pixels[start + 2])
                })
            }
            // 16-bit images: `get_pixel` scales them to 8-bit RGBA.
            Decoded::Color(color) => PreparedImage::prepare_from_greyscale(new_width, new_height, |x, y| {
                let pixel = image::GenericImageView::get_pixel(color, columns[x] as u32, rows[y] as u32);
                let [red, green, blue, _] = pixel.0;
                luma_601(red, green, blue)
            }),
        }
    };
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
