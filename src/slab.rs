//! Generational slab: stable small keys for connections, so a JS object that outlives its
//! connection holds a stale key that is detected (and throws) instead of reaching a new socket.

/// Index plus generation. Encoded for JS as one number below 2^53.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub index: u32,
    pub gen: u32,
}

/// Generations wrap at 2^21 so that `gen * 2^32 + index` stays an exact JS number.
const GEN_MASK: u32 = (1 << 21) - 1;

impl Key {
    pub fn to_f64(self) -> f64 {
        ((self.gen as u64) << 32 | self.index as u64) as f64
    }

    pub fn from_f64(n: f64) -> Option<Key> {
        // Integral and in range, without `fract` (a libm call on the hot path).
        let v = n as u64;
        if v as f64 != n || v >= 1 << 53 {
            return None;
        }
        Some(Key {
            index: v as u32,
            gen: (v >> 32) as u32,
        })
    }
}

struct Slot<T> {
    gen: u32,
    value: Option<T>,
}

pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.gen = (slot.gen + 1) & GEN_MASK;
            slot.value = Some(value);
            return Key {
                index,
                gen: slot.gen,
            };
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            gen: 0,
            value: Some(value),
        });
        Key { index, gen: 0 }
    }

    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.gen == key.gen {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.gen == key.gen {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// The live entry at `index` whatever its generation (event tokens carry only the index).
    pub fn key_at(&self, index: usize) -> Option<Key> {
        let slot = self.slots.get(index)?;
        slot.value.as_ref().map(|_| Key {
            index: index as u32,
            gen: slot.gen,
        })
    }

    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.gen != key.gen {
            return None;
        }
        let value = slot.value.take()?;
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    pub fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key {
                index: i as u32,
                gen: s.gen,
            })
            .collect()
    }
}
