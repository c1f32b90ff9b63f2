//! Text boxes from a DB probability map: connected regions above a threshold, scored by their
//! mean probability, grown by the unclip distance; and reading order.

/// An axis-aligned text box, in the coordinates of the map it came from (later rescaled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// Mean probability of the region's pixels.
    pub score: f32,
}

/// Text boxes in a `width × height` probability map: 8-connected regions of pixels above
/// `thresh` whose mean probability is at least `box_thresh`, each grown on every side by
/// `area × unclip / perimeter` (DB's unclip, for the axis-aligned bounding box) and clamped
/// to the map. Regions under 3 pixels high or wide are noise and dropped.
pub fn text_boxes(
    prob: &[f32],
    width: usize,
    height: usize,
    thresh: f32,
    box_thresh: f32,
    unclip: f32,
) -> Vec<TextBox> {
    let mut seen = vec![false; width * height];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..width * height {
        if seen[start] || prob.get(start).is_none_or(|&p| p <= thresh) {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0usize, 0usize);
        let (mut sum, mut count) = (0.0f64, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            sum += f64::from(prob[i]);
            count += 1;
            for dy in [-1i64, 0, 1] {
                for dx in [-1i64, 0, 1] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if !seen[j] && prob[j] > thresh {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let (w, h) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let score = (sum / count as f64) as f32;
        if w < 3.0 || h < 3.0 || score < box_thresh {
            continue;
        }
        let d = w * h * unclip / (2.0 * (w + h));
        boxes.push(TextBox {
            x0: (x0 as f32 - d).max(0.0),
            y0: (y0 as f32 - d).max(0.0),
            x1: (x1 as f32 + 1.0 + d).min(width as f32),
            y1: (y1 as f32 + 1.0 + d).min(height as f32),
            score,
        });
    }
    boxes
}

/// Fraction of a `width × height` map covered by the union of the boxes.
pub fn covered_fraction(boxes: &[TextBox], width: usize, height: usize) -> f32 {
    if width == 0 || height == 0 {
        return 0.0;
    }
    let mut covered = vec![false; width * height];
    for b in boxes {
        let (x0, x1) = (b.x0.max(0.0) as usize, (b.x1.ceil() as usize).min(width));
        let (y0, y1) = (b.y0.max(0.0) as usize, (b.y1.ceil() as usize).min(height));
        for y in y0..y1 {
            covered[y * width + x0..y * width + x1.max(x0)].fill(true);
        }
    }
    covered.iter().filter(|&&c| c).count() as f32 / covered.len() as f32
}

/// Sorts boxes into reading order: top to bottom, and left to right among boxes whose tops are
/// within half a line of each other.
pub fn reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| a.y0.total_cmp(&b.y0).then(a.x0.total_cmp(&b.x0)));
    // Adjacent boxes on the same line go left to right (RapidOCR's pass, with a tolerance
    // of half the line height instead of a fixed 10 pixels).
    for i in 0..boxes.len() {
        let mut j = i;
        while j > 0 {
            let (a, b) = (boxes[j - 1], boxes[j]);
            let tolerance = 0.5 * (a.y1 - a.y0).min(b.y1 - b.y0);
            if (b.y0 - a.y0).abs() < tolerance && b.x0 < a.x0 {
                boxes.swap(j - 1, j);
                j -= 1;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(width: usize, height: usize, rects: &[(usize, usize, usize, usize, f32)]) -> Vec<f32> {
        let mut m = vec![0.0; width * height];
        for &(x0, y0, x1, y1, p) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    m[y * width + x] = p;
                }
            }
        }
        m
    }

    #[test]
    fn two_regions_two_boxes_grown_by_unclip() {
        let m = map(100, 40, &[(10, 5, 50, 15, 0.9), (10, 25, 30, 35, 0.8)]);
        let b = text_boxes(&m, 100, 40, 0.3, 0.5, 1.6);
        assert_eq!(b.len(), 2);
        // 40×10 region: d = 400 × 1.6 / 100 = 6.4.
        assert!((b[0].x0 - 3.6).abs() < 1e-4 && (b[0].x1 - 56.4).abs() < 1e-4);
        assert!(
            (b[0].y0 - 0.0).abs() < 1e-4,
            "clamped to the map: {:?}",
            b[0]
        );
        assert!((b[0].score - 0.9).abs() < 1e-4);
    }

    #[test]
    fn weak_and_tiny_regions_are_dropped() {
        let m = map(
            60,
            20,
            &[
                (1, 1, 20, 10, 0.4),
                (30, 5, 32, 15, 0.9),
                (40, 5, 55, 15, 0.2),
            ],
        );
        // 0.4 is text (> 0.3) but its mean is under 0.5; 2 px wide is noise; 0.2 is background.
        assert!(text_boxes(&m, 60, 20, 0.3, 0.5, 1.6).is_empty());
    }

    #[test]
    fn reading_order_is_rows_then_columns() {
        let bx = |x0: f32, y0: f32| TextBox {
            x0,
            y0,
            x1: x0 + 30.0,
            y1: y0 + 20.0,
            score: 1.0,
        };
        // Second word of line one starts 3 px higher than the first word.
        let mut boxes = vec![bx(50.0, 100.0), bx(60.0, 7.0), bx(5.0, 10.0), bx(5.0, 98.0)];
        reading_order(&mut boxes);
        let order: Vec<(f32, f32)> = boxes.iter().map(|b| (b.x0, b.y0)).collect();
        assert_eq!(
            order,
            [(5.0, 10.0), (60.0, 7.0), (5.0, 98.0), (50.0, 100.0)]
        );
    }

    #[test]
    fn covered_fraction_counts_overlaps_once() {
        let b = |x0: f32, x1: f32| TextBox {
            x0,
            y0: 0.0,
            x1,
            y1: 10.0,
            score: 1.0,
        };
        let f = covered_fraction(&[b(0.0, 50.0), b(25.0, 75.0)], 100, 10);
        assert!((f - 0.75).abs() < 1e-6, "{f}");
    }

    proptest! {
        #[test]
        fn boxes_stay_inside_the_map_and_fraction_is_a_fraction(
            w in 1usize..40, h in 1usize..40,
            cells in proptest::collection::vec(0.0f32..1.0, 1600),
        ) {
            let m = &cells[..w * h];
            let boxes = text_boxes(m, w, h, 0.3, 0.5, 1.6);
            for b in &boxes {
                prop_assert!(b.x0 >= 0.0 && b.y0 >= 0.0);
                prop_assert!(b.x1 <= w as f32 && b.y1 <= h as f32);
                prop_assert!(b.x0 < b.x1 && b.y0 < b.y1);
            }
            let f = covered_fraction(&boxes, w, h);
            prop_assert!((0.0..=1.0).contains(&f));
        }
    }
}
