//! QR codes in images, decoded with `rqrr`.
//!
//! Images are checked by their header first: too small to hold a readable
//! QR code, too large for the pixel limit, or not a raster format, they are
//! skipped without decoding. JPEG images, the largest in mail, are decoded
//! straight to grey with `zune-jpeg`, which skips the colour conversion.
//! Detection runs on a small copy first and on a larger one only when the
//! small copy showed a code it could not read.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, Luma};
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
fn detect(image: &Decoded, side: u32) -> (Vec<String>, usize) {
    let mut prepared = rqrr::PreparedImage::prepare(gray_copy(image, side));
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

/// A grey copy with the longest side `side`. Point sampling costs one
/// look-up per output pixel, whatever the size of the original, and QR
/// modules survive it at two or more pixels per module.
fn gray_copy(image: &Decoded, side: u32) -> GrayImage {
    let (width, height) = dimensions(image);
    let longest = width.max(height);
    if side >= longest {
        return match image {
            Decoded::Gray(gray) => gray.clone(),
            Decoded::Color(color) => color.to_luma8(),
        };
    }
    let scale = f64::from(side) / f64::from(longest);
    let new_width = ((f64::from(width) * scale) as u32).max(1);
    let new_height = ((f64::from(height) * scale) as u32).max(1);
    let source = |x: u32, y: u32| {
        let source_x = (u64::from(x) * u64::from(width) / u64::from(new_width)) as u32;
        let source_y = (u64::from(y) * u64::from(height) / u64::from(new_height)) as u32;
        (source_x, source_y)
    };
    match image {
        Decoded::Gray(gray) => GrayImage::from_fn(new_width, new_height, |x, y| {
            let (source_x, source_y) = source(x, y);
            *gray.get_pixel(source_x, source_y)
        }),
        Decoded::Color(color) => GrayImage::from_fn(new_width, new_height, |x, y| {
            let (source_x, source_y) = source(x, y);
            let [red, green, blue, _] = image::GenericImageView::get_pixel(color, source_x, source_y).0;
            let luma = (u32::from(red) * 299 + u32::from(green) * 587 + u32::from(blue) * 114) / 1000;
            Luma([luma as u8])
        }),
    }
}
