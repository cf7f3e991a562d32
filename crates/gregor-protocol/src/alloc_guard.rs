//! A global allocator that keeps a lying length prefix from killing the broker.
//!
//! `kafka-protocol` 0.18 decodes an array by calling `Vec::with_capacity(n)`
//! with the element count read off the wire, before it reads any element. A
//! 22-byte Metadata request declaring 2^31-1 topics asks for ~154 GB. The
//! system allocator refuses, and a failed allocation in Rust is not a panic:
//! `handle_alloc_error` aborts the whole process. Any client could take the
//! broker down (design notes §7).
//!
//! This allocator delegates everything to [`System`] except very large blocks
//! (at least [`THRESHOLD`] bytes), which it takes from the kernel with
//! `mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`. Such a mapping only
//! reserves address space: no memory is committed and no overcommit check is
//! made (in overcommit modes 0 and 1) until a page is touched. So the lying
//! `with_capacity` succeeds for free, the decoder runs out of bytes after a
//! few elements and returns an error, the `Vec` is dropped and the mapping is
//! returned with `munmap`. (`realloc` moves a block between the two kinds
//! when it crosses the threshold, and uses `mremap` between two huge ones.)
//! Nothing is copied from `kafka-protocol`.
//!
//! Legitimate allocations that large do not happen in the broker (requests
//! are capped by `socket.request.max.bytes`, 100 MiB by default); if one does,
//! it works as any other memory, committed page by page as it is written.
//!
//! Limits: with `vm.overcommit_memory = 2` the kernel ignores `MAP_NORESERVE`,
//! and an address-space limit (`ulimit -v`) also applies to reservations; in
//! those settings the huge `mmap` fails, we return null like `System` would,
//! and the process still aborts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Blocks of this size or more are reserved with `mmap` instead of `System`.
pub const THRESHOLD: usize = 1 << 30;

/// `mmap` returns page-aligned addresses, and pages are at least 4 KiB on
/// every Linux target, so any alignment up to this is satisfied.
const MMAP_ALIGN: usize = 4096;

/// The broker's global allocator: [`System`], except for huge blocks.
pub struct Guard;

/// Whether a block with this layout lives in an `mmap` reservation. Rust
/// passes `dealloc` and `realloc` the layout the block was allocated with (for
/// `realloc`, the new size becomes the block's size), so deciding from the
/// layout alone always finds the kind of an existing block.
fn is_huge(size: usize, align: usize) -> bool {
    size >= THRESHOLD && align <= MMAP_ALIGN
}

/// Reserves `size` bytes of zeroed, uncommitted memory; null on failure.
fn reserve(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing does not alias any existing memory; all arguments are valid.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        addr.cast()
    }
}

/// Returns a reservation made by [`reserve`] with the same `size`.
///
/// # Safety
/// `ptr` and `size` must come from one successful [`reserve`] call, and the
/// block must not be used afterwards.
unsafe fn release(ptr: *mut u8, size: usize) {
    // SAFETY: per this function's contract. munmap cannot fail on a whole,
    // valid mapping, and dealloc has no way to report an error anyway.
    unsafe {
        libc::munmap(ptr.cast(), size);
    }
}

// SAFETY: small blocks are System's and keep its guarantees. Huge blocks are
// fresh page-aligned (so suitably aligned, since is_huge requires align <=
// MMAP_ALIGN) mappings of at least `size` bytes, owned by nobody else until
// munmap'd in dealloc (or moved by mremap in realloc); realloc preserves
// contents up to the smaller size and leaves the old block intact on failure.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            reserve(layout.size())
        } else {
            // SAFETY: the caller's contract (non-zero size) is passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            // Anonymous mappings are already zero. Writing the zeros, as the
            // default alloc_zeroed would, would commit every page.
            reserve(layout.size())
        } else {
            // SAFETY: the caller's contract is passed on.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout.size(), layout.align()) {
            // SAFETY: a block with this layout was made by reserve (see
            // is_huge), with this size; the caller gives it up.
            unsafe { release(ptr, layout.size()) }
        } else {
            // SAFETY: a block with this layout was made by System.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let was_huge = is_huge(layout.size(), layout.align());
        let now_huge = is_huge(new_size, layout.align());
        if !was_huge && !now_huge {
            // SAFETY: both the old and the new block are System's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if was_huge && now_huge {
            // Let the kernel move the pages: copying would commit memory for
            // every untouched page of the reservation.
            // The mapping keeps MAP_NORESERVE when it grows.
            // SAFETY: ptr and layout.size() describe one whole reservation,
            // which the caller gives up; MREMAP_MAYMOVE keeps its contents,
            // and on failure the old mapping is left as it was.
            let addr =
                unsafe { libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE) };
            return if addr == libc::MAP_FAILED {
                ptr::null_mut()
            } else {
                addr.cast()
            };
        }
        // The block crosses the threshold: move it to a block of the other
        // kind. The copy is at most the small side, memory in use anyway.
        // SAFETY: the caller guarantees new_size, rounded up to the
        // alignment, does not overflow isize, so this layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: new_size is non-zero (caller's contract).
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are valid for the copied length, and they
            // are distinct allocations so they do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        // On failure the old block stays valid and owned by the caller.
        new_ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = 4096;
    const BIG: usize = THRESHOLD + 12345;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    /// Writes a marker at both ends of a block.
    unsafe fn mark(ptr: *mut u8, size: usize, tag: u8) {
        unsafe {
            ptr.write(tag);
            ptr.add(size - 1).write(tag.wrapping_add(1));
        }
    }

    unsafe fn assert_marked(ptr: *mut u8, size: usize, tag: u8) {
        unsafe {
            assert_eq!(ptr.read(), tag);
            assert_eq!(ptr.add(size - 1).read(), tag.wrapping_add(1));
        }
    }

    #[test]
    fn kinds_are_chosen_by_size_and_alignment() {
        assert!(!is_huge(SMALL, 8));
        assert!(!is_huge(THRESHOLD - 1, 8));
        assert!(is_huge(THRESHOLD, 8));
        assert!(is_huge(BIG, MMAP_ALIGN));
        assert!(!is_huge(BIG, 2 * MMAP_ALIGN));
    }

    #[test]
    fn small_and_big_blocks_hold_their_bytes() {
        let guard = Guard;
        for size in [SMALL, BIG] {
            unsafe {
                let ptr = guard.alloc(layout(size));
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % 8, 0);
                mark(ptr, size, 7);
                assert_marked(ptr, size, 7);
                guard.dealloc(ptr, layout(size));
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero() {
        let guard = Guard;
        for size in [SMALL, BIG] {
            unsafe {
                let ptr = guard.alloc_zeroed(layout(size));
                assert!(!ptr.is_null());
                assert_eq!(ptr.read(), 0);
                assert_eq!(ptr.add(size / 2).read(), 0);
                assert_eq!(ptr.add(size - 1).read(), 0);
                guard.dealloc(ptr, layout(size));
            }
        }
    }

    #[test]
    fn a_lying_capacity_costs_nothing() {
        // What the decoder asks for on a Metadata request claiming 2^31-1
        // topics: far more than this machine has, yet it succeeds.
        let guard = Guard;
        let huge = layout(i32::MAX as usize * 72);
        unsafe {
            let ptr = guard.alloc(huge);
            assert!(!ptr.is_null());
            mark(ptr, SMALL, 1);
            assert_marked(ptr, SMALL, 1);
            guard.dealloc(ptr, huge);
        }
    }

    #[test]
    fn realloc_moves_blocks_across_the_threshold() {
        let guard = Guard;
        unsafe {
            // small -> small
            let ptr = guard.alloc(layout(SMALL));
            mark(ptr, SMALL, 10);
            let ptr = guard.realloc(ptr, layout(SMALL), 2 * SMALL);
            assert!(!ptr.is_null());
            assert_marked(ptr, SMALL, 10);

            // small -> big: the contents move into a reservation.
            let ptr = guard.realloc(ptr, layout(2 * SMALL), BIG);
            assert!(!ptr.is_null());
            assert_marked(ptr, SMALL, 10);
            mark(ptr.add(SMALL), BIG - SMALL, 20);

            // big -> bigger
            let ptr = guard.realloc(ptr, layout(BIG), 2 * BIG);
            assert!(!ptr.is_null());
            assert_marked(ptr, SMALL, 10);
            assert_marked(ptr.add(SMALL), BIG - SMALL, 20);
            mark(ptr.add(BIG), BIG, 30);

            // big -> big, shrinking
            let ptr = guard.realloc(ptr, layout(2 * BIG), BIG);
            assert!(!ptr.is_null());
            assert_marked(ptr, SMALL, 10);
            assert_marked(ptr.add(SMALL), BIG - SMALL, 20);

            // big -> small keeps the start of the contents.
            mark(ptr.add(SMALL - 2), 2, 40);
            let ptr = guard.realloc(ptr, layout(BIG), SMALL);
            assert!(!ptr.is_null());
            assert_eq!(ptr.read(), 10);
            assert_marked(ptr.add(SMALL - 2), 2, 40);
            guard.dealloc(ptr, layout(SMALL));
        }
    }

    #[test]
    fn a_vec_through_the_guard_survives_a_lying_count() {
        // The decoder's pattern, end to end, on this allocator.
        #[derive(Clone, Copy)]
        struct Topic([u64; 9]);
        let guard = Guard;
        let count = u32::MAX as usize - 1;
        let layout = Layout::array::<Topic>(count).unwrap();
        unsafe {
            let ptr = guard.alloc(layout).cast::<Topic>();
            assert!(!ptr.is_null());
            ptr.write(Topic([1; 9]));
            assert_eq!(ptr.read().0[8], 1);
            guard.dealloc(ptr.cast(), layout);
        }
    }
}
