//! The runtime a `no_std` wasm build needs: a panic handler and an allocator. The deployable
//! Functions and the web package (`--features web`) are built that way.
//!
//! A panic traps (`unreachable`), without formatting a message. In a Function the JS runtime
//! catches the trap, logs it, and starts a fresh instance for the next execution, so a bug
//! never throws out of the Function; in the web package the call that trapped throws.
//!
//! The allocator hands out power-of-two blocks from per-size free lists and grows linear
//! memory for new ones. It never coalesces: executions are short and allocate the same
//! shapes again and again, so a warm instance settles at a fixed footprint; a web page's
//! view holds one user's friends and settles the same way (a freed block serves the next
//! allocation of its size class). It is ~0.5 KB of wasm where dlmalloc is ~8 KB.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    wasm32::unreachable()
}

const PAGE: usize = 65_536;
const MIN_CLASS: u32 = 4; // 16-byte blocks: room for the free-list link and 16-byte alignment
const CLASSES: usize = 32;

struct Heap {
    free: [usize; CLASSES],
    next: usize,
    end: usize,
}

struct Allocator(UnsafeCell<Heap>);

// wasm32 without threads: one execution context, never shared across threads.
unsafe impl Sync for Allocator {}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator(UnsafeCell::new(Heap { free: [0; CLASSES], next: 0, end: 0 }));

fn class_of(layout: &Layout) -> u32 {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    usize::BITS - (size - 1).leading_zeros()
}

impl Heap {
    /// A fresh block from the top of the heap, aligned to `min(block, PAGE)`.
    unsafe fn carve(&mut self, class: u32) -> *mut u8 {
        if self.next == 0 {
            // Start above everything the memory holds now (data and stack).
            self.next = wasm32::memory_size(0) * PAGE;
            self.end = self.next;
        }
        let block = 1usize << class;
        let align = block.min(PAGE);
        let start = (self.next + align - 1) & !(align - 1);
        let Some(stop) = start.checked_add(block) else { return ptr::null_mut() };
        if stop > self.end {
            let pages = (stop - self.end).div_ceil(PAGE);
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return ptr::null_mut();
            }
            self.end += pages * PAGE;
        }
        self.next = stop;
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let heap = &mut *self.0.get();
        let class = class_of(&layout);
        if class as usize >= CLASSES {
            return ptr::null_mut();
        }
        let head = heap.free[class as usize];
        if head != 0 {
            heap.free[class as usize] = *(head as *const usize);
            return head as *mut u8;
        }
        heap.carve(class)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let heap = &mut *self.0.get();
        let class = class_of(&layout) as usize;
        *(p as *mut usize) = heap.free[class];
        heap.free[class] = p as usize;
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if class_of(&new_layout) == class_of(&layout) {
            return p;
        }
        let q = self.alloc(new_layout);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
            self.dealloc(p, layout);
        }
        q
    }
}
