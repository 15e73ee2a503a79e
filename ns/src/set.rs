//! A small set of namespace kinds.

use std::fmt;

use crate::Namespace;

/// A set of namespace kinds (a bitset; `Copy`).
///
/// Iteration follows [`Namespace::ALL`]: the user namespace comes first, so the other namespaces are created
/// or joined with the privileges the user namespace grants.
///
/// ```
/// use cove_ns::{Namespace, NamespaceSet};
///
/// let mut set = NamespaceSet::new();
/// set.insert(Namespace::Uts);
/// set.insert(Namespace::User);
/// assert!(set.contains(Namespace::Uts));
/// assert_eq!(set.iter().collect::<Vec<_>>(), [Namespace::User, Namespace::Uts]);
/// set.remove(Namespace::Uts);
/// assert_eq!(set.len(), 1);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NamespaceSet {
    bits: u8,
}

impl NamespaceSet {
    /// The empty set.
    pub const fn new() -> Self {
        NamespaceSet { bits: 0 }
    }

    /// The empty set (same as [`NamespaceSet::new`]).
    pub const fn empty() -> Self {
        Self::new()
    }

    /// Every namespace kind.
    pub const fn all() -> Self {
        NamespaceSet { bits: 0xff }
    }

    /// Adds `kind`; returns whether it was absent.
    pub fn insert(&mut self, kind: Namespace) -> bool {
        let absent = !self.contains(kind);
        self.bits |= Self::bit(kind);
        absent
    }

    /// Removes `kind`; returns whether it was present.
    pub fn remove(&mut self, kind: Namespace) -> bool {
        let present = self.contains(kind);
        self.bits &= !Self::bit(kind);
        present
    }

    /// Returns this set with `kind` added (builder style).
    #[must_use]
    pub const fn with(self, kind: Namespace) -> Self {
        NamespaceSet {
            bits: self.bits | Self::bit(kind),
        }
    }

    /// Returns this set without `kind`.
    #[must_use]
    pub const fn without(self, kind: Namespace) -> Self {
        NamespaceSet {
            bits: self.bits & !Self::bit(kind),
        }
    }

    /// Whether `kind` is in the set.
    pub const fn contains(&self, kind: Namespace) -> bool {
        self.bits & Self::bit(kind) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The number of kinds in the set.
    pub const fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The kinds in the set, user namespace first (the order of [`Namespace::ALL`]).
    pub fn iter(&self) -> Iter {
        Iter {
            set: *self,
            next: 0,
        }
    }

    /// The union of the `CLONE_NEW*` flags of the kinds in the set.
    pub fn clone_flags(&self) -> u64 {
        self.iter().fold(0, |flags, kind| flags | kind.clone_flag())
    }

    const fn bit(kind: Namespace) -> u8 {
        1 << kind.index()
    }
}

impl FromIterator<Namespace> for NamespaceSet {
    fn from_iter<I: IntoIterator<Item = Namespace>>(iter: I) -> Self {
        let mut set = NamespaceSet::new();
        for kind in iter {
            set.insert(kind);
        }
        set
    }
}

impl Extend<Namespace> for NamespaceSet {
    fn extend<I: IntoIterator<Item = Namespace>>(&mut self, iter: I) {
        for kind in iter {
            self.insert(kind);
        }
    }
}

impl IntoIterator for NamespaceSet {
    type Item = Namespace;
    type IntoIter = Iter;

    fn into_iter(self) -> Iter {
        self.iter()
    }
}

/// An iterator over the kinds of a [`NamespaceSet`], user namespace first.
#[derive(Debug, Clone)]
pub struct Iter {
    set: NamespaceSet,
    next: usize,
}

impl Iterator for Iter {
    type Item = Namespace;

    fn next(&mut self) -> Option<Namespace> {
        while let Some(kind) = Namespace::ALL.get(self.next).copied() {
            self.next += 1;
            if self.set.contains(kind) {
                return Some(kind);
            }
        }
        None
    }
}

/// Comma-separated friendly names, user first: `user,pid,uts`; empty for the empty set.
impl fmt::Display for NamespaceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for NamespaceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_contains() {
        let mut set = NamespaceSet::empty();
        assert!(set.is_empty());
        assert!(set.insert(Namespace::Pid));
        assert!(!set.insert(Namespace::Pid));
        assert!(set.contains(Namespace::Pid));
        assert!(!set.contains(Namespace::Net));
        assert!(set.remove(Namespace::Pid));
        assert!(!set.remove(Namespace::Pid));
        assert!(set.is_empty());
    }

    #[test]
    fn iterates_user_first_whatever_the_insert_order() {
        let set: NamespaceSet = [
            Namespace::Time,
            Namespace::Net,
            Namespace::User,
            Namespace::Mount,
        ]
        .into_iter()
        .collect();
        let kinds: Vec<_> = set.into_iter().collect();
        assert_eq!(
            kinds,
            [
                Namespace::User,
                Namespace::Mount,
                Namespace::Net,
                Namespace::Time
            ]
        );
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn clone_flags_are_the_union() {
        assert_eq!(NamespaceSet::new().clone_flags(), 0);
        let set = NamespaceSet::new()
            .with(Namespace::Uts)
            .with(Namespace::Time);
        assert_eq!(set.clone_flags(), libc::CLONE_NEWUTS as u64 | 0x80);
        assert_eq!(NamespaceSet::all().len(), 8);
        assert_eq!(
            set.without(Namespace::Time).clone_flags(),
            libc::CLONE_NEWUTS as u64
        );
    }

    #[test]
    fn display_and_debug() {
        let set: NamespaceSet = [Namespace::Uts, Namespace::Mount].into_iter().collect();
        assert_eq!(set.to_string(), "mount,uts");
        assert_eq!(format!("{set:?}"), "{Mount, Uts}");
        assert_eq!(NamespaceSet::new().to_string(), "");
    }

    #[test]
    fn extend_adds() {
        let mut set = NamespaceSet::new();
        set.extend([Namespace::Ipc, Namespace::Cgroup]);
        assert!(set.contains(Namespace::Ipc) && set.contains(Namespace::Cgroup));
    }
}
