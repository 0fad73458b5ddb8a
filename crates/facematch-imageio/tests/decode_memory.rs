//! Measures the peak memory of decoding the worst case (a 16-bit RGBA PNG whose EXIF
//! orientation turns it a quarter) per pixel, and checks that `PEAK_BYTES_PER_PIXEL`,
//! from which the server derives its pixel limit, covers it with the other image's RGB8
//! held beside it. Alone in its own test binary so that no other test's allocations
//! disturb the measurement (buffers this large are `mmap`ed and given back when freed).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

/// Peak resident memory of this process in KiB (`VmHWM`), Linux only.
#[cfg(target_os = "linux")]
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets `VmHWM` to the current resident size.
#[cfg(target_os = "linux")]
fn reset_hwm() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// The PNG chunk CRC (ISO 3309, bitwise; a test needs no table).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `png` with an `eXIf` chunk (orientation `value`) inserted right after `IHDR`.
fn with_orientation(png: &[u8], value: u8) -> Vec<u8> {
    let tiff: Vec<u8> = [
        &b"MM\0\x2a\0\0\0\x08\0\x01"[..],
        &[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, value, 0, 0],
        &[0, 0, 0, 0],
    ]
    .concat();
    let mut chunk = b"eXIf".to_vec();
    chunk.extend_from_slice(&tiff);
    let crc = crc32(&chunk);
    let mut out = png[..33].to_vec(); // signature (8) + IHDR (4 + 4 + 13 + 4)
    out.extend_from_slice(&u32::try_from(tiff.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&png[33..]);
    out
}

#[cfg(target_os = "linux")]
#[test]
fn the_worst_decode_fits_the_documented_bytes_per_pixel() {
    use facematch_imageio::{decode, DecodeLimits, PEAK_BYTES_PER_PIXEL};
    use image::{ImageBuffer, Rgba};

    let (width, height) = (4000u32, 2000u32); // 8 MP: 64 MB of 16-bit RGBA
    let png = {
        let img: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_fn(width, height, |x, y| {
            Rgba([(x * 16) as u16, (y * 32) as u16, 4096, 65535])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba16(img)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        with_orientation(&out, 6)
    };
    reset_hwm();
    let before = vm_hwm_kib();
    let decoded = decode(&png, &DecodeLimits::default()).unwrap();
    let grown = (vm_hwm_kib() - before) * 1024;
    // The orientation was applied: the image is turned a quarter.
    assert_eq!(decoded.rgb.dimensions(), (height, width));
    assert_eq!(decoded.exif_orientation, 6);
    let pixels = u64::from(width) * u64::from(height);
    let per_pixel = grown as f64 / pixels as f64;
    println!("peak decode memory: {per_pixel:.2} bytes per pixel");
    // The other image's RGB8 (3 B/px) is held while this one decodes.
    assert!(
        per_pixel + 3.0 <= PEAK_BYTES_PER_PIXEL as f64,
        "decode peak {per_pixel:.2} B/px + 3 B/px exceeds PEAK_BYTES_PER_PIXEL ({PEAK_BYTES_PER_PIXEL})"
    );
    // And the bound is not loose by more than a few bytes per pixel.
    assert!(
        per_pixel + 3.0 > PEAK_BYTES_PER_PIXEL as f64 - 6.0,
        "{per_pixel:.2}"
    );
}

#[test]
fn the_pixel_limit_follows_the_memory_budget() {
    use facematch_imageio::{DecodeLimits, PEAK_BYTES_PER_PIXEL};
    let mib = 1024 * 1024;
    assert_eq!(
        DecodeLimits::within_memory(64 * mib).max_pixels,
        64 * mib / PEAK_BYTES_PER_PIXEL
    );
    // Never above the default 50 MP, never 0.
    assert_eq!(
        DecodeLimits::within_memory(u64::MAX),
        DecodeLimits::default()
    );
    assert_eq!(DecodeLimits::within_memory(0).max_pixels, 1);
}
