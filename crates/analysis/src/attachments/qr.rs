//! QR codes in images, decoded with `rqrr`.
//!
//! Images are checked by their header first: too small to hold a readable
//! QR code, too large for the pixel limit, or not a raster format, they are
//! skipped without decoding. Large images are scaled down before detection,
//! which keeps the cost per image bounded.

use std::io::Cursor;

use image::{DynamicImage, GenericImageView, ImageFormat, ImageReader};

use crate::config::Limits;

/// A version 1 QR code is 21 modules wide; with a quiet zone and at least
/// one pixel per module, smaller images cannot hold one.
const MIN_SIDE: u32 = 25;
/// Longest side after scaling down.
const MAX_DETECTION_SIDE: u32 = 1_200;

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

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    decoder_limits.max_alloc = Some(limits.max_image_pixels.saturating_mul(8));
    reader.limits(decoder_limits);
    let Ok(image) = reader.decode() else {
        return QrScan::Skipped;
    };
    QrScan::Found(decode_codes(&image))
}

fn raster_format(bytes: &[u8]) -> Option<ImageFormat> {
    let format = image::guess_format(bytes).ok()?;
    matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Bmp)
        .then_some(format)
}

fn decode_codes(image: &DynamicImage) -> Vec<String> {
    let (width, height) = image.dimensions();
    let longest = width.max(height);
    let gray = if longest > MAX_DETECTION_SIDE {
        let scale = f64::from(MAX_DETECTION_SIDE) / f64::from(longest);
        let new_width = ((f64::from(width) * scale) as u32).max(1);
        let new_height = ((f64::from(height) * scale) as u32).max(1);
        image.resize_exact(new_width, new_height, image::imageops::FilterType::Triangle).to_luma8()
    } else {
        image.to_luma8()
    };

    let mut prepared = rqrr::PreparedImage::prepare(gray);
    let mut texts = Vec::new();
    for grid in prepared.detect_grids().into_iter().take(8) {
        if let Ok((_, text)) = grid.decode()
            && !text.is_empty()
            && !texts.contains(&text)
        {
            texts.push(text);
        }
    }
    texts
}
