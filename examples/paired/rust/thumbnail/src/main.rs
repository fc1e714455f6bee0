//! Thumbnailer with the `image` crate: the Rust twin of `../../thumbnail/python/app.py`.
//!
//! Same event, same answer, same errors: decode the PNG, make it 8-bit RGB, crop to whole
//! `f x f` blocks for the smallest power-of-two `f` that fits the box, and average each
//! block (`imageops::thumbnail`, which for a whole-number ratio sums each block and
//! divides with rounding, `(sum + n / 2) / n` — exactly what Pillow's `reduce` does for a
//! power-of-two block). The thumbnail's PNG is written under /tmp.

use std::fs;
use std::io::Cursor;

use image::{imageops, ImageFormat, ImageOutputFormat, RgbImage};
use lambda_loop::{run, Context, FunctionError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const MAX_PIXELS: u64 = 25_000_000;
const MAX_SIDE: u64 = 4096;
const OUT_DIR: &str = "/tmp/thumbnails";

fn error(message: impl Into<String>) -> FunctionError {
    FunctionError::new("ThumbnailError", message)
}

fn box_side(event: &serde_json::Map<String, Value>, key: &str) -> Result<u32, FunctionError> {
    match event.get(key) {
        None => Ok(128),
        Some(value) => match value.as_u64() {
            Some(n) if (1..=MAX_SIDE).contains(&n) && value.is_u64() => Ok(n as u32),
            _ => Err(error(format!(
                "{key}: must be an integer from 1 to {MAX_SIDE}"
            ))),
        },
    }
}

/// Width, height, bit depth and colour type from the IHDR chunk.
fn header(data: &[u8]) -> Result<(u32, u32, u8, u8), FunctionError> {
    if data.len() < 33 || &data[..8] != SIGNATURE || &data[12..16] != b"IHDR" {
        return Err(error("image: not a PNG"));
    }
    let width = u32::from_be_bytes(data[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(data[20..24].try_into().expect("4 bytes"));
    let (depth, colour) = (data[24], data[25]);
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(error(format!(
            "image: {width}x{height} is empty or over {MAX_PIXELS} pixels"
        )));
    }
    let supported = match colour {
        0 | 2 | 4 | 6 => depth == 8,
        3 => matches!(depth, 1 | 2 | 4 | 8),
        _ => false,
    };
    if !supported {
        return Err(error(format!(
            "image: bit depth {depth} with colour type {colour} is not supported"
        )));
    }
    Ok((width, height, depth, colour))
}

fn handle(event: &[u8]) -> Result<Vec<u8>, FunctionError> {
    let event: Value =
        serde_json::from_slice(event).map_err(|_| error("the event must be a JSON object"))?;
    let event = event
        .as_object()
        .ok_or_else(|| error("the event must be a JSON object"))?;
    let encoded = event
        .get("image")
        .and_then(Value::as_str)
        .ok_or_else(|| error("image: a base64 PNG is required"))?;
    let max_width = box_side(event, "maxWidth")?;
    let max_height = box_side(event, "maxHeight")?;
    let data = base64::decode(encoded).map_err(|_| error("image: not valid base64"))?;
    let (width, height, depth, colour) = header(&data)?;
    let rgb: RgbImage = image::load_from_memory_with_format(&data, ImageFormat::Png)
        .map_err(|_| error("image: not a readable PNG"))?
        .to_rgb8();

    let mut factor: u32 = 1;
    while width / factor > max_width || height / factor > max_height {
        factor *= 2;
    }
    let (out_w, out_h) = (width / factor, height / factor);
    if out_w == 0 || out_h == 0 {
        return Err(error(format!(
            "image: too narrow for a {max_width}x{max_height} thumbnail"
        )));
    }
    let cropped = imageops::crop_imm(&rgb, 0, 0, out_w * factor, out_h * factor).to_image();
    let thumb = if factor > 1 {
        imageops::thumbnail(&cropped, out_w, out_h)
    } else {
        cropped
    };

    let raw = thumb.as_raw();
    let digest: String = Sha256::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pixels = u64::from(out_w) * u64::from(out_h);
    let mean: Vec<u64> = (0..3)
        .map(|c| {
            let sum: u64 = raw.iter().skip(c).step_by(3).map(|&v| u64::from(v)).sum();
            (sum + pixels / 2) / pixels
        })
        .collect();
    let path = format!("{OUT_DIR}/{}.png", &digest[..16]);
    let mut png = Cursor::new(Vec::new());
    thumb
        .write_to(&mut png, ImageOutputFormat::Png)
        .map_err(|e| error(format!("could not encode the thumbnail: {e}")))?;
    fs::create_dir_all(OUT_DIR)
        .and_then(|_| fs::write(&path, png.get_ref()))
        .map_err(|e| error(format!("could not write {path}: {e}")))?;
    let answer = json!({
        "source": {"width": width, "height": height, "bitDepth": depth, "colourType": colour},
        "thumbnail": {
            "width": out_w,
            "height": out_h,
            "factor": factor,
            "sha256": digest,
            "meanRgb": mean,
            "path": path,
        },
    });
    Ok(answer.to_string().into_bytes())
}

fn main() {
    run(
        || Ok(()),
        |_: &mut (), event: &[u8], _: &Context| handle(event),
    )
}
