//! A progress bar on stderr for long commands (drawn only when stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::admin::human;

/// What a bar counts to its total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Bytes,
    Files,
}

#[derive(Debug)]
struct Shared {
    label: String,
    unit: Unit,
    total: u64,
    done: AtomicU64,
    items: AtomicU64,
    stop: AtomicBool,
    started: Instant,
}

/// Bytes (or files) done out of a total, redrawn five times a second.
#[derive(Debug)]
pub struct Progress {
    shared: Arc<Shared>,
    drawer: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar of `total` bytes.
    pub fn start(label: &str, total: u64) -> Self {
        Self::with_unit(label, Unit::Bytes, total)
    }

    /// A count of files done, for work whose total is not known in advance.
    pub fn start_count(label: &str) -> Self {
        Self::with_unit(label, Unit::Files, 0)
    }

    /// A bar of `total` files (for work that moves no data, like stat).
    pub fn start_files(label: &str, total: u64) -> Self {
        Self::with_unit(label, Unit::Files, total)
    }

    fn with_unit(label: &str, unit: Unit, total: u64) -> Self {
        let shared = Arc::new(Shared {
            label: label.to_string(),
            unit,
            total,
            done: AtomicU64::new(0),
            items: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started: Instant::now(),
        });
        let drawer = std::io::stderr().is_terminal().then(|| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    draw(&shared);
                    std::thread::sleep(Duration::from_millis(200));
                }
                draw(&shared);
                eprintln!();
            })
        });
        Self { shared, drawer }
    }

    /// `bytes` more done; `item` when a file is finished.
    pub fn add(&self, bytes: u64, item: bool) {
        self.shared.done.fetch_add(bytes, Ordering::Relaxed);
        if item {
            self.shared.items.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `items` files done in all.
    pub fn set_items(&self, items: u64) {
        self.shared.items.store(items, Ordering::Relaxed);
    }

    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// Stops drawing (leaving the last state on screen).
    pub fn finish(mut self) -> Duration {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
        self.elapsed()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn draw(s: &Shared) {
    const WIDTH: u64 = 30;
    let items = s.items.load(Ordering::Relaxed);
    let done = match s.unit {
        Unit::Bytes => s.done.load(Ordering::Relaxed),
        Unit::Files => items,
    };
    let ratio = if s.total == 0 {
        1.0
    } else {
        (done as f64 / s.total as f64).min(1.0)
    };
    let filled = (ratio * WIDTH as f64) as u64;
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '=' } else { ' ' })
        .collect();
    let secs = s.started.elapsed().as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let eta = if rate > 0.0 && done < s.total {
        format!(" ETA {:.0}s", (s.total - done) as f64 / rate)
    } else {
        String::new()
    };
    let counts = match s.unit {
        Unit::Bytes => format!(
            "{} / {}  {items} files  {}/s",
            human(done),
            human(s.total),
            human(rate as u64)
        ),
        Unit::Files => format!("{done} / {} files  {rate:.0} files/s", s.total),
    };
    let mut err = std::io::stderr().lock();
    if s.total == 0 && s.unit == Unit::Files {
        let _ = write!(err, "\r{}  {items} files  {rate:.0} files/s   ", s.label);
        let _ = err.flush();
        return;
    }
    let _ = write!(
        err,
        "\r{} [{bar}] {:>3.0}%  {counts}{eta}   ",
        s.label,
        ratio * 100.0,
    );
    let _ = err.flush();
}
