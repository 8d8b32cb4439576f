//! The `synaptic` binary's global allocator (ADR 0004, ADR 0524): mimalloc.
//!
//! The `mimalloc` crate's adapter sends every allocation through `mi_malloc_aligned`, whose
//! fast path only serves blocks of up to 1 KiB; a larger block with an ordinary alignment (a
//! boxed request future, a read buffer, a header map's entries) takes mimalloc's generic
//! aligned path and often its over-allocation, about a thousand instructions where `mi_malloc`
//! needs a few dozen. This adapter asks for alignment only when the layout needs more than what
//! every `mi_malloc` block has (16 bytes, C's `max_align_t`, for any size of at least the
//! alignment), as the standard library's own allocator does with the system's `malloc`.

use core::ffi::c_void;
use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};

/// The alignment every `mi_malloc` block of at least that size has (`MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// A layout `mi_malloc` serves as it is.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

/// mimalloc, plain allocations on its fast path.
pub struct Mimalloc;

// SAFETY: every method forwards to mimalloc, which returns null on failure and otherwise a
// block of at least `size` bytes at the requested alignment: `mi_malloc`'s blocks are aligned
// to 16 bytes whenever their size is at least 16, and to their size's alignment below that,
// which `plain` checks; other layouts go through mimalloc's aligned entry points. Blocks are
// freed and resized by the allocator that made them (`mi_free`, `mi_realloc*` accept both
// kinds).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator (the trait's contract).
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was returned by this allocator for `layout` (the trait's contract).
        unsafe {
            if plain(layout.align(), new_size) {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_their_layout_asks_for() {
        let a = Mimalloc;
        for size in [1usize, 3, 8, 12, 16, 24, 40, 100, 1000, 1100, 5000, 70_000] {
            for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; the block is freed with the same allocator.
                #[allow(unsafe_code)]
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xa5, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc: size {size} align {align}");
                    assert_eq!(*q.add(size - 1), 0xa5, "realloc keeps the contents");
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
