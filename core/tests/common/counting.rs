//! A global allocator that counts live heap bytes and their peak, for the
//! memory test (`closed_memory.rs`) and the deflate benchmark. A file that
//! uses it installs it itself:
//!
//! ```ignore
//! #[path = "common/counting.rs"]
//! mod counting;
//! #[global_allocator]
//! static ALLOC: counting::Counting = counting::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Live heap bytes now.
pub static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most live heap bytes since the last store to it.
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
}
