//! A bump allocator for short-lived processes: allocations come from one
//! static arena and are never reused; past the arena, the system allocator.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const SIZE: usize = 128 * 1024;

#[repr(C, align(4096))]
pub struct Arena {
    bytes: UnsafeCell<[u8; SIZE]>,
    next: AtomicUsize,
}

// SAFETY: disjoint ranges are handed out through an atomic cursor.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Self {
        Arena {
            bytes: UnsafeCell::new([0; SIZE]),
            next: AtomicUsize::new(0),
        }
    }
    fn base(&self) -> *mut u8 {
        self.bytes.get().cast()
    }
    fn owns(&self, p: *mut u8) -> bool {
        let a = p as usize;
        let b = self.base() as usize;
        a >= b && a < b + SIZE
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for Arena {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 4096 {
            let mut cur = self.next.load(Relaxed);
            loop {
                let start = (cur + layout.align() - 1) & !(layout.align() - 1);
                let end = match start.checked_add(layout.size()) {
                    Some(e) if e <= SIZE => e,
                    _ => break,
                };
                match self.next.compare_exchange_weak(cur, end, Relaxed, Relaxed) {
                    Ok(_) => return unsafe { self.base().add(start) },
                    Err(c) => cur = c,
                }
            }
        }
        unsafe { System.alloc(layout) }
    }
    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.owns(ptr) {
            // The newest allocation grows in place.
            let start = ptr as usize - self.base() as usize;
            let end = start + layout.size();
            if start + new_size <= SIZE
                && self
                    .next
                    .compare_exchange(end, start + new_size, Relaxed, Relaxed)
                    .is_ok()
            {
                return ptr;
            }
            if new_size <= layout.size() {
                return ptr;
            }
        } else {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ARENA: Arena = Arena::new();

    #[test]
    fn allocations_are_aligned_disjoint_and_grow_in_place() {
        unsafe {
            let a = ARENA.alloc(Layout::from_size_align(3, 1).unwrap());
            let b = ARENA.alloc(Layout::from_size_align(16, 16).unwrap());
            assert!(ARENA.owns(a) && ARENA.owns(b));
            assert_eq!(b as usize % 16, 0);
            assert!(b as usize >= a as usize + 3);
            b.write_bytes(7, 16);
            // The newest allocation grows where it is; an older one moves.
            let b2 = ARENA.realloc(b, Layout::from_size_align(16, 16).unwrap(), 64);
            assert_eq!(b2, b);
            let a2 = ARENA.realloc(a, Layout::from_size_align(3, 1).unwrap(), 8);
            assert_ne!(a2, a);
            assert_eq!(*b2.add(15), 7);
            // Past the arena: the system allocator, freed by it.
            let big = Layout::from_size_align(SIZE + 1, 8).unwrap();
            let c = ARENA.alloc(big);
            assert!(!c.is_null() && !ARENA.owns(c));
            c.write_bytes(1, SIZE + 1);
            ARENA.dealloc(c, big);
            ARENA.dealloc(a2, Layout::from_size_align(8, 1).unwrap());
        }
    }
}
