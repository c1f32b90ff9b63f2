//! Writes the demo's fake notice image (`demo/media/fake-notice.png`), rendered with DejaVu
//! Sans (Debian `fonts-dejavu-core`):
//!
//! ```sh
//! cargo run -p ballotwatch-classify --example render_notice -- demo/media/fake-notice.png
//! ```

#[path = "../tests/support/render.rs"]
mod render;

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: render_notice OUTPUT.png");
        std::process::exit(2);
    };
    if let Err(e) = render::fake_notice().save(&out) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
    println!("wrote {out}");
}
