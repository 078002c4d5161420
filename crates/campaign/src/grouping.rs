//! In-memory campaign grouping with the rules of the store's
//! `assign_campaign`, for evaluating signatures over a folder of messages
//! without a database.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{KeyStrength, SignatureKey};

/// Campaigns built from signatures added one at a time.
///
/// The rules match the store (see [`KeyStrength`]): artefact keys merge
/// every campaign they reach into the one with the most members, the oldest
/// on a tie. Without an artefact match, a signature joins the campaign with
/// the most matching infrastructure keys. Without those, it joins the one
/// with the most matching text bands. Neither tier merges.
#[derive(Debug, Default)]
pub struct CampaignGrouping {
    /// Campaign of each key.
    owners: HashMap<SignatureKey, usize>,
    /// Members of each live campaign, by campaign number (creation order).
    members: BTreeMap<usize, Vec<usize>>,
    next_campaign: usize,
    next_member: usize,
    merges: usize,
}

/// The grouping outcome of one added signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouped {
    /// Number of the campaign the signature is now in.
    pub campaign: usize,
    pub created: bool,
    /// Campaigns merged into `campaign`.
    pub merged_from: Vec<usize>,
    /// Whether only text bands linked the signature to `campaign`.
    pub by_text_only: bool,
}

impl CampaignGrouping {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the keys of one message and returns where it went.
    pub fn add(&mut self, keys: &[SignatureKey]) -> Grouped {
        let member = self.next_member;
        self.next_member += 1;

        let mut artefacts = BTreeSet::new();
        let mut infrastructure: BTreeMap<usize, usize> = BTreeMap::new();
        let mut bands: BTreeMap<usize, usize> = BTreeMap::new();
        for key in keys {
            let Some(&owner) = self.owners.get(key) else {
                continue;
            };
            match key.kind.strength() {
                KeyStrength::Artefact => {
                    artefacts.insert(owner);
                }
                KeyStrength::Infrastructure => *infrastructure.entry(owner).or_default() += 1,
                KeyStrength::Text => *bands.entry(owner).or_default() += 1,
            }
        }

        let by_text_only = artefacts.is_empty() && infrastructure.is_empty() && !bands.is_empty();
        let targets = if !artefacts.is_empty() {
            artefacts
        } else if !infrastructure.is_empty() {
            most_matched(&infrastructure)
        } else {
            most_matched(&bands)
        };

        let (campaign, created, merged_from) = match self.survivor(&targets) {
            None => (self.create(), true, Vec::new()),
            Some(survivor) => {
                let merged_from: Vec<usize> = targets.into_iter().filter(|id| *id != survivor).collect();
                for merged in &merged_from {
                    self.merge(survivor, *merged);
                }
                (survivor, false, merged_from)
            }
        };

        for key in keys {
            self.owners.entry(key.clone()).or_insert(campaign);
        }
        self.members.entry(campaign).or_default().push(member);
        Grouped { campaign, created, merged_from, by_text_only }
    }

    /// Returns the size of each live campaign, largest first.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.members.values().map(Vec::len).collect();
        sizes.sort_unstable_by(|left, right| right.cmp(left));
        sizes
    }

    /// Number of merges so far.
    pub fn merges(&self) -> usize {
        self.merges
    }

    fn survivor(&self, targets: &BTreeSet<usize>) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for id in targets {
            let size = self.members.get(id).map_or(0, Vec::len);
            if best.is_none_or(|(best_size, _)| size > best_size) {
                best = Some((size, *id));
            }
        }
        best.map(|(_, id)| id)
    }

    fn create(&mut self) -> usize {
        let id = self.next_campaign;
        self.next_campaign += 1;
        self.members.insert(id, Vec::new());
        id
    }

    fn merge(&mut self, survivor: usize, merged: usize) {
        for owner in self.owners.values_mut() {
            if *owner == merged {
                *owner = survivor;
            }
        }
        let moved = self.members.remove(&merged).unwrap_or_default();
        self.members.entry(survivor).or_default().extend(moved);
        self.merges += 1;
    }
}

/// Returns the campaign with the most matches, the oldest (lowest number) on a tie.
fn most_matched(matches: &BTreeMap<usize, usize>) -> BTreeSet<usize> {
    let best =
        matches.iter().max_by(|(left_id, left), (right_id, right)| left.cmp(right).then_with(|| right_id.cmp(left_id)));
    best.map(|(id, _)| *id).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyKind;

    fn key(kind: KeyKind, value: &str) -> SignatureKey {
        SignatureKey::new(kind, value)
    }

    #[test]
    fn strong_keys_merge_and_bands_only_join() {
        let mut grouping = CampaignGrouping::new();

        let a = grouping.add(&[key(KeyKind::Url, "https://a.example/x")]);
        let b = grouping.add(&[key(KeyKind::Attachment, "b1"), key(KeyKind::TextBand, "b00-1")]);
        let text = grouping.add(&[key(KeyKind::TextBand, "b00-1")]);
        let infrastructure = grouping.add(&[key(KeyKind::Domain, "c.example"), key(KeyKind::TextBand, "b00-1")]);
        let domain_only = grouping.add(&[key(KeyKind::Domain, "c.example"), key(KeyKind::Url, "https://a.example/y")]);
        let link = grouping.add(&[key(KeyKind::Url, "https://a.example/x"), key(KeyKind::Attachment, "b1")]);

        assert!(a.created);
        assert!(b.created);
        assert_eq!(text.campaign, b.campaign);
        assert!(text.by_text_only);
        assert_eq!(infrastructure.campaign, b.campaign);
        assert_eq!(domain_only.campaign, b.campaign, "a domain joins without merging");
        assert!(domain_only.merged_from.is_empty());
        assert_eq!(link.campaign, b.campaign, "the larger campaign survives");
        assert_eq!(link.merged_from, vec![a.campaign]);
        assert_eq!(grouping.sizes(), vec![6]);
        assert_eq!(grouping.merges(), 1);
    }
}
