//! Doubly linked lists threaded through slot indices, with no allocation per operation.
//!
//! `Lists` holds the links of `heads` circular lists and of every slot of the table's slab: node
//! `h < heads` is the head (sentinel) of list `h`, node `heads + s` belongs to slot `s`. A slot is in
//! at most one list of a `Lists`; an unlinked slot points at itself, so `unlink` is idempotent. All
//! operations are O(1) except `add_slot`, which grows the link array into its reserved capacity.

#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

pub(super) struct Lists {
    heads: u32,
    links: Vec<Link>,
}

impl Lists {
    /// `heads` empty lists, with room reserved for `slots` slots.
    pub(super) fn new(heads: usize, slots: usize) -> Lists {
        let mut links = Vec::with_capacity(heads + slots);
        links.extend((0..heads as u32).map(|h| Link { prev: h, next: h }));
        Lists { heads: heads as u32, links }
    }

    /// Makes room for the next slot (slots are added in order 0, 1, 2 ...), unlinked.
    pub(super) fn add_slot(&mut self) {
        let node = self.links.len() as u32;
        self.links.push(Link { prev: node, next: node });
    }

    pub(super) fn push_back(&mut self, list: usize, slot: u32) {
        let node = self.heads + slot;
        let head = list as u32;
        let tail = self.links[list].prev;
        self.links[node as usize] = Link { prev: tail, next: head };
        self.links[tail as usize].next = node;
        self.links[list].prev = node;
    }

    pub(super) fn unlink(&mut self, slot: u32) {
        let node = self.heads + slot;
        let Link { prev, next } = self.links[node as usize];
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        self.links[node as usize] = Link { prev: node, next: node };
    }

    pub(super) fn front(&self, list: usize) -> Option<u32> {
        self.slot_of(self.links[list].next)
    }

    /// The slot after `slot` in its list, `None` at the end.
    pub(super) fn next(&self, slot: u32) -> Option<u32> {
        self.slot_of(self.links[(self.heads + slot) as usize].next)
    }

    pub(super) fn pop_front(&mut self, list: usize) -> Option<u32> {
        let slot = self.front(list)?;
        self.unlink(slot);
        Some(slot)
    }

    /// Bytes of heap this holds.
    pub(super) fn heap_bytes(&self) -> usize {
        self.links.capacity() * std::mem::size_of::<Link>()
    }

    #[cfg(test)]
    pub(super) fn is_linked(&self, slot: u32) -> bool {
        let node = self.heads + slot;
        self.links[node as usize].next != node
    }

    fn slot_of(&self, node: u32) -> Option<u32> {
        node.checked_sub(self.heads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(lists: &Lists, list: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = lists.front(list);
        while let Some(slot) = at {
            out.push(slot);
            at = lists.next(slot);
        }
        out
    }

    #[test]
    fn push_unlink_pop() {
        let mut l = Lists::new(2, 4);
        for _ in 0..4 {
            l.add_slot();
        }
        l.push_back(0, 2);
        l.push_back(0, 0);
        l.push_back(1, 3);
        l.push_back(0, 1);
        assert_eq!(collect(&l, 0), [2, 0, 1]);
        assert_eq!(collect(&l, 1), [3]);
        l.unlink(0);
        l.unlink(0);
        assert_eq!(collect(&l, 0), [2, 1]);
        assert_eq!(l.pop_front(0), Some(2));
        assert_eq!(l.pop_front(0), Some(1));
        assert_eq!(l.pop_front(0), None);
        l.unlink(3);
        assert_eq!(l.front(1), None);
        l.push_back(1, 0);
        assert_eq!(collect(&l, 1), [0]);
    }
}
