//! Topic registry for pub/sub: which subscribers hold which topics.
//!
//! Subscribers are `u64` ids chosen by the addon (e.g. a connection's slab key and generation);
//! topics are arbitrary bytes. The registry only answers "who gets this topic" and keeps the
//! counts the `subscription` handler reports; publishing (one shared frame written to every
//! subscriber's [`SendQueue`](crate::send_queue::SendQueue)) is the addon's.
//!
//! Both directions are kept, each in subscription order:
//! topic → subscribers (for publish) and subscriber → topics (for `getTopics` and close).
//! A topic's bytes are stored once (`Arc<[u8]>`, shared by both maps). Subscribe and
//! unsubscribe are hash lookups plus a scan of the subscriber's own topics; removing one
//! subscriber from the middle of a topic's list is linear in that list. A topic without
//! subscribers and a subscriber without topics are removed at once: nothing is kept for them.
//!
//! ```
//! use uws_core::pubsub::Topics;
//! let mut t = Topics::default();
//! assert_eq!(t.subscribe(1, b"chat"), Some((0, 1)));
//! assert_eq!(t.subscribe(2, b"chat"), Some((1, 2)));
//! assert_eq!(t.subscribe(2, b"chat"), None);
//! assert_eq!(t.subscribers(b"chat"), &[1, 2]);
//! assert_eq!(t.remove_subscriber(1), vec![(b"chat"[..].into(), 2, 1)]);
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Topic registry: which subscribers hold which topics.
#[derive(Debug, Default)]
pub struct Topics {
    /// Topic → its subscribers in subscription order. Never an empty list.
    by_topic: HashMap<Arc<[u8]>, Vec<u64>>,
    /// Subscriber → its topics in subscription order (the same `Arc`s as the keys of
    /// `by_topic`). Never an empty list.
    by_sub: HashMap<u64, Vec<Arc<[u8]>>, BuildHasherDefault<IdHasher>>,
}

impl Topics {
    /// An empty registry. Does not allocate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `sub` to `topic`. Returns `Some((old_count, new_count))` of the topic's
    /// subscribers if newly subscribed, `None` if it already was.
    pub fn subscribe(&mut self, sub: u64, topic: &[u8]) -> Option<(usize, usize)> {
        let key = match self.by_topic.get_key_value(topic) {
            Some((key, _)) => {
                if self.is_subscribed_to(sub, key) {
                    return None;
                }
                Arc::clone(key)
            }
            None => Arc::from(topic),
        };
        self.by_sub.entry(sub).or_default().push(Arc::clone(&key));
        let subs = self.by_topic.entry(key).or_default();
        subs.push(sub);
        Some((subs.len() - 1, subs.len()))
    }

    /// Unsubscribes `sub` from `topic`. Returns `Some((old_count, new_count))` of the topic's
    /// subscribers if it was subscribed, `None` otherwise.
    pub fn unsubscribe(&mut self, sub: u64, topic: &[u8]) -> Option<(usize, usize)> {
        let key = self.by_topic.get_key_value(topic)?.0;
        let topics = self.by_sub.get_mut(&sub)?;
        let at = topics.iter().position(|t| Arc::ptr_eq(t, key))?;
        topics.remove(at);
        if topics.is_empty() {
            self.by_sub.remove(&sub);
        }
        Some(self.remove_from_topic(sub, topic))
    }

    /// Whether `sub` is subscribed to `topic`.
    pub fn is_subscribed(&self, sub: u64, topic: &[u8]) -> bool {
        self.by_topic
            .get_key_value(topic)
            .is_some_and(|(key, _)| self.is_subscribed_to(sub, key))
    }

    /// The topics of `sub`, in subscription order.
    pub fn topics_of(&self, sub: u64) -> Vec<&[u8]> {
        self.by_sub
            .get(&sub)
            .map_or_else(Vec::new, |topics| topics.iter().map(|t| &t[..]).collect())
    }

    /// How many subscribers `topic` has.
    pub fn num_subscribers(&self, topic: &[u8]) -> usize {
        self.subscribers(topic).len()
    }

    /// Whether `sub` holds any topic.
    pub fn has_subscriptions(&self, sub: u64) -> bool {
        self.by_sub.contains_key(&sub)
    }

    /// The subscribers of `topic` in subscription order (empty if none). The addon writes one
    /// shared frame to each; it must not hold this borrow across JS calls that may subscribe.
    pub fn subscribers(&self, topic: &[u8]) -> &[u64] {
        self.by_topic.get(topic).map_or(&[], |subs| subs)
    }

    /// How many topics have at least one subscriber.
    pub fn num_topics(&self) -> usize {
        self.by_topic.len()
    }

    /// Whether no one is subscribed to anything.
    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Removes `sub` from all its topics (a closing connection), returning
    /// `(topic, old_count, new_count)` for each, in subscription order.
    pub fn remove_subscriber(&mut self, sub: u64) -> Vec<(Box<[u8]>, usize, usize)> {
        let Some(topics) = self.by_sub.remove(&sub) else {
            return Vec::new();
        };
        topics
            .into_iter()
            .map(|topic| {
                let (old, new) = self.remove_from_topic(sub, &topic);
                (Box::from(&topic[..]), old, new)
            })
            .collect()
    }

    /// Whether `sub`'s topic list holds `key` (compared by address: keys are interned).
    fn is_subscribed_to(&self, sub: u64, key: &Arc<[u8]>) -> bool {
        self.by_sub
            .get(&sub)
            .is_some_and(|topics| topics.iter().any(|t| Arc::ptr_eq(t, key)))
    }

    /// Removes `sub` from `topic`'s list (it must be there), dropping the topic when it
    /// becomes empty. Returns the old and new counts.
    fn remove_from_topic(&mut self, sub: u64, topic: &[u8]) -> (usize, usize) {
        let subs = self
            .by_topic
            .get_mut(topic)
            .expect("registry maps out of sync: topic of a subscriber is missing");
        let at = subs
            .iter()
            .position(|&s| s == sub)
            .expect("registry maps out of sync: subscriber missing from its topic");
        subs.remove(at);
        let new = subs.len();
        if new == 0 {
            self.by_topic.remove(topic);
        }
        (new + 1, new)
    }
}

/// Hasher for subscriber ids: ids come from the addon (not from the network), so a fast
/// multiplicative mix is enough (SipHash, kept for attacker-chosen topic bytes, is slower).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that both maps describe the same relation, without empty entries.
    fn check(t: &Topics) {
        let mut pairs_by_topic = 0;
        for (topic, subs) in &t.by_topic {
            assert!(!subs.is_empty());
            for (i, &s) in subs.iter().enumerate() {
                assert!(!subs[..i].contains(&s), "duplicate subscriber");
                let topics = &t.by_sub[&s];
                assert_eq!(topics.iter().filter(|x| Arc::ptr_eq(x, topic)).count(), 1);
                pairs_by_topic += 1;
            }
        }
        let pairs_by_sub: usize = t.by_sub.values().map(Vec::len).sum();
        assert!(t.by_sub.values().all(|v| !v.is_empty()));
        assert_eq!(pairs_by_topic, pairs_by_sub);
    }

    #[test]
    fn subscribe_counts_and_rejects_duplicates() {
        let mut t = Topics::new();
        assert_eq!(t.subscribe(1, b"a"), Some((0, 1)));
        assert_eq!(t.subscribe(2, b"a"), Some((1, 2)));
        assert_eq!(t.subscribe(1, b"a"), None);
        assert_eq!(t.subscribe(1, b"b"), Some((0, 1)));
        assert_eq!(t.num_subscribers(b"a"), 2);
        assert_eq!(t.num_subscribers(b"b"), 1);
        assert_eq!(t.num_subscribers(b"c"), 0);
        assert_eq!(t.num_topics(), 2);
        check(&t);
    }

    #[test]
    fn topic_bytes_are_arbitrary_and_stored_once() {
        let mut t = Topics::new();
        let topic = [0u8, 255, 0, b'/', 0xc3];
        t.subscribe(1, &topic);
        t.subscribe(2, &topic);
        t.subscribe(3, b"");
        assert!(t.is_subscribed(3, b""));
        assert_eq!(t.subscribers(&topic), &[1, 2]);
        let key = t.by_topic.get_key_value(&topic[..]).unwrap().0;
        assert_eq!(
            Arc::strong_count(key),
            3,
            "key + one per subscriber, no copies"
        );
        check(&t);
    }

    #[test]
    fn unsubscribe_counts_and_forgets_empty_topics() {
        let mut t = Topics::new();
        t.subscribe(1, b"a");
        t.subscribe(2, b"a");
        assert_eq!(t.unsubscribe(3, b"a"), None, "not a subscriber");
        assert_eq!(t.unsubscribe(1, b"zz"), None, "no such topic");
        assert_eq!(t.unsubscribe(1, b"a"), Some((2, 1)));
        assert_eq!(t.unsubscribe(1, b"a"), None);
        assert!(!t.has_subscriptions(1));
        assert_eq!(t.unsubscribe(2, b"a"), Some((1, 0)));
        assert!(t.is_empty());
        assert!(t.by_sub.is_empty());
        assert_eq!(t.subscribers(b"a"), &[] as &[u64]);
        check(&t);
    }

    #[test]
    fn resubscribing_moves_to_the_end_of_both_orders() {
        let mut t = Topics::new();
        for s in 1..=3 {
            t.subscribe(s, b"t");
        }
        t.subscribe(1, b"u");
        t.unsubscribe(1, b"t");
        t.subscribe(1, b"t");
        assert_eq!(t.subscribers(b"t"), &[2, 3, 1]);
        assert_eq!(t.topics_of(1), vec![&b"u"[..], b"t"]);
        check(&t);
    }

    #[test]
    fn is_subscribed_and_has_subscriptions() {
        let mut t = Topics::new();
        assert!(!t.is_subscribed(1, b"a"));
        assert!(!t.has_subscriptions(1));
        t.subscribe(1, b"a");
        t.subscribe(2, b"b");
        assert!(t.is_subscribed(1, b"a"));
        assert!(
            !t.is_subscribed(1, b"b"),
            "topic exists but not for this subscriber"
        );
        assert!(!t.is_subscribed(2, b"a"));
        assert!(t.has_subscriptions(1) && t.has_subscriptions(2));
        assert!(!t.has_subscriptions(3));
    }

    #[test]
    fn topics_of_keeps_subscription_order() {
        let mut t = Topics::new();
        for topic in [&b"z"[..], b"a", b"m", b"b"] {
            t.subscribe(7, topic);
        }
        t.unsubscribe(7, b"m");
        assert_eq!(t.topics_of(7), vec![&b"z"[..], b"a", b"b"]);
        assert!(t.topics_of(8).is_empty());
    }

    #[test]
    fn subscribers_keep_subscription_order_after_middle_removal() {
        let mut t = Topics::new();
        for s in [5, 3, 9, 1, 7] {
            t.subscribe(s, b"t");
        }
        t.unsubscribe(9, b"t");
        assert_eq!(t.subscribers(b"t"), &[5, 3, 1, 7]);
        t.remove_subscriber(5);
        assert_eq!(t.subscribers(b"t"), &[3, 1, 7]);
        check(&t);
    }

    #[test]
    fn remove_subscriber_reports_each_topic_in_order() {
        let mut t = Topics::new();
        t.subscribe(1, b"a");
        t.subscribe(2, b"b");
        t.subscribe(1, b"b");
        t.subscribe(1, b"c");
        let removed = t.remove_subscriber(1);
        let expected: Vec<(Box<[u8]>, usize, usize)> = vec![
            (b"a"[..].into(), 1, 0),
            (b"b"[..].into(), 2, 1),
            (b"c"[..].into(), 1, 0),
        ];
        assert_eq!(removed, expected);
        assert!(!t.has_subscriptions(1));
        assert_eq!(t.num_topics(), 1);
        assert_eq!(t.subscribers(b"b"), &[2]);
        assert!(
            t.remove_subscriber(1).is_empty(),
            "second removal is a no-op"
        );
        assert!(t.remove_subscriber(99).is_empty());
        check(&t);
    }

    #[test]
    fn removing_everyone_leaves_nothing() {
        let mut t = Topics::new();
        for s in 0..100u64 {
            for k in 0..(s % 7) {
                t.subscribe(s, format!("topic-{}", (s + k) % 13).as_bytes());
            }
        }
        check(&t);
        for s in 0..100u64 {
            let removed = t.remove_subscriber(s);
            assert_eq!(removed.len() as u64, s % 7);
            for (_, old, new) in removed {
                assert_eq!(old, new + 1);
            }
        }
        assert!(t.is_empty() && t.by_sub.is_empty());
    }

    /// Random operations checked against a naive model (a list of (sub, topic) pairs in
    /// subscription order).
    #[test]
    fn random_operations_match_a_naive_model() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut t = Topics::new();
        let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
        let count = |m: &[(u64, Vec<u8>)], topic: &[u8]| m.iter().filter(|p| p.1 == topic).count();
        for _ in 0..5000 {
            let sub = rand(12);
            let topic = vec![b'a' + rand(6) as u8; rand(3) as usize];
            match rand(5) {
                0 | 1 => {
                    let before = count(&model, &topic);
                    let exists = model.iter().any(|p| p.0 == sub && p.1 == topic);
                    let got = t.subscribe(sub, &topic);
                    if exists {
                        assert_eq!(got, None);
                    } else {
                        model.push((sub, topic.clone()));
                        assert_eq!(got, Some((before, before + 1)));
                    }
                }
                2 | 3 => {
                    let before = count(&model, &topic);
                    let at = model.iter().position(|p| p.0 == sub && p.1 == topic);
                    let got = t.unsubscribe(sub, &topic);
                    match at {
                        Some(i) => {
                            model.remove(i);
                            assert_eq!(got, Some((before, before - 1)));
                        }
                        None => assert_eq!(got, None),
                    }
                }
                _ => {
                    let mut expected = Vec::new();
                    let mine: Vec<Vec<u8>> = model
                        .iter()
                        .filter(|p| p.0 == sub)
                        .map(|p| p.1.clone())
                        .collect();
                    for topic in mine {
                        let before = count(&model, &topic);
                        expected.push((topic.clone().into_boxed_slice(), before, before - 1));
                        let i = model
                            .iter()
                            .position(|p| p.0 == sub && p.1 == topic)
                            .unwrap();
                        model.remove(i);
                    }
                    assert_eq!(t.remove_subscriber(sub), expected);
                }
            }
            // Observers agree with the model.
            let subs: Vec<u64> = model.iter().filter(|p| p.1 == topic).map(|p| p.0).collect();
            assert_eq!(t.subscribers(&topic), &subs[..]);
            let topics: Vec<&[u8]> = model
                .iter()
                .filter(|p| p.0 == sub)
                .map(|p| &p.1[..])
                .collect();
            assert_eq!(t.topics_of(sub), topics);
            assert_eq!(t.has_subscriptions(sub), !topics.is_empty());
            assert_eq!(t.is_subscribed(sub, &topic), topics.contains(&&topic[..]));
        }
        check(&t);
    }
}
