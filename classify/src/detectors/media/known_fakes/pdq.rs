//! PDQ, Meta's 256-bit perceptual image hash, implemented from its published description
//! (“The TMK+PDQF Video-Hashing Algorithm and the PDQ Image Similarity Algorithm”, Meta
//! ThreatExchange, `hashing.pdf`): luminance, a Jarosz (two-pass box) low-pass filter, a 64×64
//! decimation, the 16×16 low-frequency block of a 2-D DCT (DC term skipped), and one bit per
//! coefficient: above the block's median or not. Two pictures are "the same" when their hashes
//! differ in few bits (Meta's usual match threshold: at most 31 of 256).
//!
//! Bits are laid out row-major (coefficient `(i, j)` is bit `16·i + j`), so hashes are comparable
//! with each other, not guaranteed byte-identical with Meta's reference hex strings.

use image::DynamicImage;

/// Side of the decimated luminance buffer.
const BUF: usize = 64;
/// Side of the DCT block kept.
const BLOCK: usize = 16;
/// Longest side hashed: larger images are first scaled down (the low frequencies PDQ keeps
/// survive that unchanged, and it bounds the cost of the filter).
const PREPARE_SIDE: u32 = 1024;
/// Below this quality (0–100) a picture is too flat for its hash to mean much.
pub const MIN_QUALITY: u8 = 50;

/// A 256-bit PDQ hash and its quality (0–100: how much gradient the picture has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PdqHash {
    /// The 256 bits, bit `k` in byte `k / 8`, most significant bit first.
    pub bits: [u8; 32],
    /// 0–100; hashes under [`MIN_QUALITY`] come from near-uniform pictures.
    pub quality: u8,
}

impl PdqHash {
    /// Number of differing bits (0–256).
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// The 64-character lowercase hex form stored and shown.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bits)
    }

    /// Parses the hex form written by [`PdqHash::to_hex`]; `None` unless it is 64 hex digits.
    /// The quality is not part of the hex form and is given separately.
    pub fn from_hex(s: &str, quality: u8) -> Option<PdqHash> {
        let bytes = hex::decode(s.trim()).ok()?;
        let bits: [u8; 32] = bytes.try_into().ok()?;
        Some(PdqHash { bits, quality })
    }
}

/// Hashes a decoded image.
pub fn pdq_hash(img: &DynamicImage) -> PdqHash {
    let rgb = if img.width().max(img.height()) > PREPARE_SIDE {
        img.resize(
            PREPARE_SIDE,
            PREPARE_SIDE,
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8()
    } else {
        img.to_rgb8()
    };
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return PdqHash {
            bits: [0; 32],
            quality: 0,
        };
    }
    let mut luma: Vec<f32> = rgb
        .pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let win_x = w.div_ceil(2 * BUF);
    let win_y = h.div_ceil(2 * BUF);
    let mut tmp = vec![0f32; w * h];
    for _ in 0..2 {
        box_rows(&luma, &mut tmp, w, h, win_x);
        box_cols(&tmp, &mut luma, w, h, win_y);
    }
    let mut buf = [[0f32; BUF]; BUF];
    for (i, row) in buf.iter_mut().enumerate() {
        let y = (((i as f32 + 0.5) * h as f32 / BUF as f32) as usize).min(h - 1);
        for (j, cell) in row.iter_mut().enumerate() {
            let x = (((j as f32 + 0.5) * w as f32 / BUF as f32) as usize).min(w - 1);
            *cell = luma[y * w + x];
        }
    }
    let quality = quality(&buf);
    let dct = dct_matrix();
    // B = D · A · Dᵀ, D being 16×64.
    let mut da = [[0f32; BUF]; BLOCK];
    for (i, out) in da.iter_mut().enumerate() {
        for (j, cell) in out.iter_mut().enumerate() {
            *cell = (0..BUF).map(|k| dct[i][k] * buf[k][j]).sum();
        }
    }
    let mut block = [0f32; BLOCK * BLOCK];
    for i in 0..BLOCK {
        for j in 0..BLOCK {
            block[i * BLOCK + j] = (0..BUF).map(|k| da[i][k] * dct[j][k]).sum();
        }
    }
    let mut sorted = block;
    sorted.sort_by(f32::total_cmp);
    let median = (sorted[127] + sorted[128]) / 2.0;
    let mut bits = [0u8; 32];
    for (k, v) in block.iter().enumerate() {
        if *v > median {
            bits[k / 8] |= 0x80 >> (k % 8);
        }
    }
    PdqHash { bits, quality }
}

/// The 16×64 DCT-II basis rows 1..=16 (the DC row 0 is skipped), scaled by √(2/64).
fn dct_matrix() -> [[f32; BUF]; BLOCK] {
    let mut d = [[0f32; BUF]; BLOCK];
    let scale = (2.0f64 / BUF as f64).sqrt();
    for (i, row) in d.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let angle = std::f64::consts::PI / (2.0 * BUF as f64)
                * (i as f64 + 1.0)
                * (2.0 * j as f64 + 1.0);
            *cell = (scale * angle.cos()) as f32;
        }
    }
    d
}

/// Gradient-based quality, 0–100: the sum of absolute neighbour differences of the 64×64
/// buffer (in percent of full scale), divided by 90 and capped at 100.
fn quality(buf: &[[f32; BUF]; BUF]) -> u8 {
    let pct = |v: f32| (v * 100.0 / 255.0) as i32;
    let mut sum: i64 = 0;
    for pair in buf.windows(2) {
        for (below, above) in pair[1].iter().zip(pair[0].iter()) {
            sum += (pct(*below) - pct(*above)).abs() as i64;
        }
    }
    for row in buf.iter() {
        for j in 0..BUF - 1 {
            sum += (pct(row[j + 1]) - pct(row[j])).abs() as i64;
        }
    }
    (sum / 90).min(100) as u8
}

/// Centred box filter of width `win` along each row, `src` → `dst`.
fn box_rows(src: &[f32], dst: &mut [f32], w: usize, h: usize, win: usize) {
    for y in 0..h {
        box_line(&src[y * w..(y + 1) * w], &mut dst[y * w..(y + 1) * w], win);
    }
}

/// Centred box filter of height `win` along each column, `src` → `dst`.
fn box_cols(src: &[f32], dst: &mut [f32], w: usize, h: usize, win: usize) {
    let mut col_in = vec![0f32; h];
    let mut col_out = vec![0f32; h];
    for x in 0..w {
        for y in 0..h {
            col_in[y] = src[y * w + x];
        }
        box_line(&col_in, &mut col_out, win);
        for y in 0..h {
            dst[y * w + x] = col_out[y];
        }
    }
}

/// One line of the box filter: each output is the mean of the inputs within `win / 2` either
/// side (fewer at the edges), using a running sum.
fn box_line(src: &[f32], dst: &mut [f32], win: usize) {
    let n = src.len();
    let half = win / 2;
    let mut prefix = vec![0f64; n + 1];
    for (i, v) in src.iter().enumerate() {
        prefix[i + 1] = prefix[i] + *v as f64;
    }
    for (i, out) in dst.iter_mut().enumerate().take(n) {
        let lo = i.saturating_sub(half);
        let hi = (i + half + 1).min(n);
        *out = ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A smooth, photo-like test picture (see `provenance::fixtures::scene`).
    pub(crate) fn scene(w: u32, h: u32, seed: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let (cx, cy) = (
                0.3 + 0.1 * (seed % 4) as f32,
                0.35 + 0.1 * (seed % 3) as f32,
            );
            let r = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
            let tau = std::f32::consts::TAU;
            // Smooth, photo-like fields (most energy at low frequencies), different per seed.
            let ring = (tau * r * (1.5 + (seed % 3) as f32)).sin();
            let wave = (tau
                * (fx * (1.0 + (seed % 2) as f32) + fy * (0.5 + 0.25 * (seed % 4) as f32)))
                .cos();
            let blob =
                (-((fx - 0.7).powi(2) + (fy - 0.3 - 0.1 * (seed % 5) as f32).powi(2)) * 12.0).exp();
            let px = |v: f32| v.clamp(0.0, 255.0) as u8;
            image::Rgb([
                px(120.0 + 80.0 * ring + 40.0 * blob),
                px(120.0 + 70.0 * wave - 30.0 * blob),
                px(60.0 + 150.0 * fy * (1.0 - fx) + 40.0 * ring * wave),
            ])
        }))
    }

    fn jpeg_roundtrip(img: &DynamicImage, quality: u8) -> DynamicImage {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img.to_rgb8())
            .unwrap();
        image::load_from_memory(&out).unwrap()
    }

    #[test]
    fn same_picture_survives_reencode_resize_and_small_crop() {
        let original = scene(640, 480, 1);
        let h = pdq_hash(&original);
        assert!(h.quality >= MIN_QUALITY, "quality {}", h.quality);
        let reencoded = h.distance(&pdq_hash(&jpeg_roundtrip(&original, 40)));
        let resized = h.distance(&pdq_hash(&original.resize_exact(
            320,
            240,
            image::imageops::FilterType::Triangle,
        )));
        // PDQ keeps the 16×16 lowest frequencies, so a crop is a small shift/scale of them: 1%
        // off each side stays inside the threshold; a few percent a side does not (PDQ is
        // known to be weak against crops).
        let cropped = h.distance(&pdq_hash(&original.crop_imm(6, 5, 628, 470)));
        let big_crop = h.distance(&pdq_hash(&original.crop_imm(32, 24, 576, 432)));
        eprintln!("distances: jpeg q40 {reencoded}, half size {resized}, 1% crop {cropped}, 5% crop {big_crop}");
        assert!(reencoded <= 24 && resized <= 8 && cropped <= 24);
    }

    #[test]
    fn different_pictures_are_far_apart() {
        let a = pdq_hash(&scene(640, 480, 1));
        let b = pdq_hash(&scene(640, 480, 4));
        let d = a.distance(&b);
        assert!(d > 64, "different scenes only {d} bits apart");
        let flipped = pdq_hash(&scene(640, 480, 1).fliph());
        assert!(a.distance(&flipped) > 64);
    }

    #[test]
    fn about_half_the_bits_are_set() {
        let h = pdq_hash(&scene(300, 300, 2));
        let ones: u32 = h.bits.iter().map(|b| b.count_ones()).sum();
        assert!((120..=136).contains(&ones), "{ones} bits set");
    }

    #[test]
    fn flat_pictures_have_low_quality() {
        let flat = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            200,
            100,
            image::Rgb([128, 128, 128]),
        ));
        assert!(pdq_hash(&flat).quality < MIN_QUALITY);
    }

    #[test]
    fn hex_round_trips() {
        let h = pdq_hash(&scene(100, 80, 3));
        let back = PdqHash::from_hex(&h.to_hex(), h.quality).unwrap();
        assert_eq!(back, h);
        assert!(PdqHash::from_hex("abc", 0).is_none());
        assert!(PdqHash::from_hex(&"z".repeat(64), 0).is_none());
    }

    proptest! {
        #[test]
        fn any_small_image_hashes_without_panicking(w in 1u32..80, h in 1u32..80, v in any::<u8>()) {
            let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([v.wrapping_add(x as u8), (y as u8).wrapping_mul(3), v])
            }));
            let hash = pdq_hash(&img);
            prop_assert!(hash.quality <= 100);
            prop_assert_eq!(hash.distance(&hash), 0);
        }
    }
}
