//! Connections live in a per-thread table and JavaScript holds a number.
//!
//! Why not a napi class: every method call on a wrapped object pays for
//! unwrapping and a type-tag check, several hundred nanoseconds in Node 20,
//! which is more than encoding or decoding a small frame. A handle lookup
//! is an index and a generation compare. The generation makes a stale
//! handle (used after `free`) an error instead of reaching another
//! connection that reused the slot.
//!
//! The table is per thread because every N-API call for an environment
//! runs on its thread; a worker thread gets its own table.

use std::cell::RefCell;

const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// At most this many connections live at once per thread.
pub const MAX_LIVE: usize = 1 << INDEX_BITS;

struct Slot<T> {
    generation: u32,
    value: Option<Box<T>>,
}

/// A slot table with reuse and generations.
pub struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Table<T> {
    pub const fn new() -> Self {
        Table { slots: Vec::new(), free: Vec::new() }
    }

    /// Stores `value`; `None` when the table is full.
    pub fn insert(&mut self, value: T) -> Option<u32> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                if self.slots.len() >= MAX_LIVE {
                    return None;
                }
                self.slots.push(Slot { generation: 0, value: None });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        // Generations run 1..=4095 so that no handle is 0.
        slot.generation = slot.generation % 4095 + 1;
        slot.value = Some(Box::new(value));
        Some(slot.generation << INDEX_BITS | index)
    }

    pub fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        let slot = self.slots.get_mut((handle & INDEX_MASK) as usize)?;
        if slot.generation != handle >> INDEX_BITS {
            return None;
        }
        slot.value.as_deref_mut()
    }

    /// Drops the value; a stale or unknown handle is ignored.
    pub fn remove(&mut self, handle: u32) -> bool {
        let index = handle & INDEX_MASK;
        match self.slots.get_mut(index as usize) {
            Some(slot) if slot.generation == handle >> INDEX_BITS && slot.value.is_some() => {
                slot.value = None;
                self.free.push(index);
                true
            }
            _ => false,
        }
    }
}

/// A table in a thread-local cell.
pub type Local<T> = RefCell<Table<T>>;
