// A Rust target: a method called N times, for demangled Rust frames.
pub struct Worker {
    base: u64,
}

impl Worker {
    #[inline(never)]
    pub fn work(&self, x: u64) -> u64 {
        std::hint::black_box(self.base + x)
    }
}

#[inline(never)]
fn drive(w: &Worker, n: u64) -> u64 {
    (0..n).map(|i| w.work(i)).sum()
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let w = Worker { base: std::env::args().count() as u64 };
    println!("{}", drive(&w, n));
}
