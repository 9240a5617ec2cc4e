//! URL router with uWebSockets.js v20.30 matching order.
//!
//! Each method has a tree of path segments. Routing walks the tree depth-first; at every
//! level children are tried high-priority (WebSocket) nodes first, then static segments,
//! then `:param`, then `*`, each group in registration order. Handlers sitting on the same
//! node run in (priority, registration) order. A handler may decline (JS `setYield(true)`),
//! and the walk continues where it left off.
//!
//! Consequences confirmed against v20.30 (see the tests): specificity beats the method-vs-any
//! priority (`any('/x')` runs before `get('/*')` for GET /x), while WebSocket routes beat
//! everything on their path (`ws('/*')` before `get('/x')`). `any` registers on the nine
//! standard methods only, so unknown methods never match. An unmatched request returns
//! `false` and the caller decides (v20.30 closes the connection; uws-rs answers 404).

use std::sync::Arc;

/// Methods an `any` route (method `"*"`) is registered on, as in uWS's `any()`.
pub const ANY_METHODS: [&str; 9] = [
    "get", "post", "head", "put", "delete", "connect", "options", "trace", "patch",
];

/// uWS stops splitting a URL after this many segments and matches the prefix it has.
const MAX_URL_SEGMENTS: usize = 100;

/// Registration priorities (`priority` argument of [`Router::add`]).
pub const PRIORITY_HIGH: u8 = 0;
pub const PRIORITY_MEDIUM: u8 = 1;
pub const PRIORITY_LOW: u8 = 2;

/// The `:param` values of a match, borrowed from the URL, plus the route's parameter names.
#[derive(Debug, Clone, Copy)]
pub struct RouteParams<'u> {
    values: &'u [&'u [u8]],
    names: &'u Arc<[Box<str>]>,
}

impl<'u> RouteParams<'u> {
    /// Value of the `index`-th `:param` along the matched path (uWS `getParameter(i)`).
    pub fn get(&self, index: usize) -> Option<&'u [u8]> {
        self.values.get(index).copied()
    }

    /// Value of `:name` in the matched route's pattern (newer uWS `getParameter("name")`).
    pub fn by_name(&self, name: &str) -> Option<&'u [u8]> {
        let index = self.names.iter().position(|n| &**n == name)?;
        self.get(index)
    }

    /// Names of the matched route's `:params`, in order.
    pub fn names(&self) -> &'u [Box<str>] {
        self.names
    }

    /// The names, shared: keeping them past the match costs a reference count, not a copy.
    pub fn shared_names(&self) -> Arc<[Box<str>]> {
        Arc::clone(self.names)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[derive(Debug)]
struct Route<H> {
    method: Box<str>,
    pattern: Box<str>,
    priority: u8,
    param_names: Arc<[Box<str>]>,
    handler: H,
}

/// Where a route sits on a node: ordering key then index into `Router::routes`.
type Slot = ((u8, u64), usize);

#[derive(Debug)]
struct Node {
    name: Box<str>,
    high: bool,
    children: Vec<Node>,
    slots: Vec<Slot>,
}

impl Node {
    fn new(name: &str, high: bool) -> Self {
        Self {
            name: name.into(),
            high,
            children: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Child for `(name, high)`, inserted in matching order when missing.
    fn child(&mut self, name: &str, high: bool) -> &mut Node {
        if let Some(i) = self
            .children
            .iter()
            .position(|c| &*c.name == name && c.high == high)
        {
            return &mut self.children[i];
        }
        // First child the new node must precede: high before normal, then by segment kind.
        let at = self
            .children
            .iter()
            .position(|c| {
                if c.high != high {
                    high
                } else {
                    kind_order(&c.name) < kind_order(name)
                }
            })
            .unwrap_or(self.children.len());
        self.children.insert(at, Node::new(name, high));
        &mut self.children[at]
    }

    /// Removes `id` everywhere below (and on) this node; prunes nodes left empty.
    fn cull(&mut self, id: usize) {
        self.slots.retain(|&(_, r)| r != id);
        for c in &mut self.children {
            c.cull(id);
        }
        self.children
            .retain(|c| !c.slots.is_empty() || !c.children.is_empty());
    }
}

/// Static segments sort before `:param` before `*` (uWS `lexicalOrder`, higher first).
fn kind_order(name: &str) -> u8 {
    match name.as_bytes().first() {
        Some(b':') => 1,
        Some(b'*') => 0,
        _ => 2,
    }
}

/// Splits like uWS `getUrlSegment`: drop one leading byte (the `/`), take up to the next `/`.
/// Returns `None` at the end of the URL.
fn next_segment(url: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = url.get(1..)?;
    let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
    Some((&rest[..len], &rest[len..]))
}

/// Routes requests to handlers of type `H`.
#[derive(Debug)]
pub struct Router<H> {
    trees: Vec<(Box<str>, Node)>,
    routes: Vec<Option<Route<H>>>,
    next_seq: u64,
    /// Most `:param` segments of any route ever added: no path in a tree has more.
    max_params: usize,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Self {
            trees: Vec::new(),
            routes: Vec::new(),
            next_seq: 0,
            max_params: 0,
        }
    }
}

impl<H: Clone> Router<H> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `method` (lower case as JS `getMethod()` reports it, or `"*"`
    /// for any) and `pattern`. `priority`: 0 high (ws), 1 medium (methods), 2 low (any).
    /// Re-adding the same (method, pattern, priority) replaces the old route; the new one
    /// orders as newly registered (newer uWS; v20.30 aborted the process instead).
    pub fn add(&mut self, method: &str, pattern: &str, priority: u8, handler: H) {
        self.remove(method, pattern, priority);
        let id = match self.routes.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.routes.push(None);
                self.routes.len() - 1
            }
        };
        let key = (priority, self.next_seq);
        self.next_seq += 1;
        let high = priority == PRIORITY_HIGH;
        let methods: &[&str] = if method == "*" {
            &ANY_METHODS
        } else {
            &[method]
        };
        for m in methods {
            let mut node = self.tree_mut(m);
            let mut rest = pattern.as_bytes();
            for _ in 0..MAX_URL_SEGMENTS {
                let Some((segment, tail)) = next_segment(rest) else {
                    break;
                };
                // Patterns are &str and segments split on ASCII '/', so this cannot fail.
                let segment = std::str::from_utf8(segment).unwrap_or_default();
                node = node.child(segment, high);
                rest = tail;
            }
            let at = node.slots.partition_point(|&(k, _)| k <= key);
            node.slots.insert(at, (key, id));
        }
        let param_names: Arc<[Box<str>]> = pattern
            .split('/')
            .filter_map(|s| s.strip_prefix(':'))
            .map(Into::into)
            .collect();
        self.max_params = self.max_params.max(param_names.len());
        self.routes[id] = Some(Route {
            method: method.into(),
            pattern: pattern.into(),
            priority,
            param_names,
            handler,
        });
    }

    /// Removes the route added with exactly these arguments. Returns whether one existed.
    pub fn remove(&mut self, method: &str, pattern: &str, priority: u8) -> bool {
        let found = self.routes.iter().position(|r| {
            r.as_ref().is_some_and(|r| {
                &*r.method == method && &*r.pattern == pattern && r.priority == priority
            })
        });
        let Some(id) = found else { return false };
        self.routes[id] = None;
        for (_, tree) in &mut self.trees {
            tree.cull(id);
        }
        self.trees
            .retain(|(_, t)| !t.children.is_empty() || !t.slots.is_empty());
        true
    }

    fn tree_mut(&mut self, method: &str) -> &mut Node {
        let i = match self.trees.iter().position(|(m, _)| &**m == method) {
            Some(i) => i,
            None => {
                self.trees.push((method.into(), Node::new("", false)));
                self.trees.len() - 1
            }
        };
        &mut self.trees[i].1
    }

    /// Offers the request to matching handlers in uWS order until `visit` returns true
    /// (handled). Returns false when no handler took it. `url` is the path without query.
    pub fn route(
        &self,
        method: &str,
        url: &[u8],
        visit: &mut dyn FnMut(&H, &RouteParams) -> bool,
    ) -> bool {
        let Some((_, tree)) = self.trees.iter().find(|(m, _)| &**m == method) else {
            return false;
        };
        // Parameter values on the stack, sized for the routes (setting up room for 100 on
        // every request showed in the profile); no allocation unless a route has more than 8.
        let mut small: [&[u8]; 8] = [&[]; 8];
        let mut large: Vec<&[u8]>;
        let params: &mut [&[u8]] = if self.max_params <= small.len() {
            &mut small[..self.max_params]
        } else {
            large = vec![&[]; self.max_params];
            &mut large
        };
        let mut walk = Walk {
            routes: &self.routes,
            visit,
            params,
        };
        walk.node(tree, url, 0, 0)
    }
}

struct Walk<'r, 'u, 'v, H> {
    routes: &'r [Option<Route<H>>],
    visit: &'v mut dyn FnMut(&H, &RouteParams) -> bool,
    /// Room for `Router::max_params` values.
    params: &'v mut [&'u [u8]],
}

impl<'u, H> Walk<'_, 'u, '_, H> {
    fn slots(&mut self, slots: &[Slot], n_params: usize) -> bool {
        for &(_, id) in slots {
            if let Some(route) = &self.routes[id] {
                let params = RouteParams {
                    values: &self.params[..n_params],
                    names: &route.param_names,
                };
                if (self.visit)(&route.handler, &params) {
                    return true;
                }
            }
        }
        false
    }

    fn node(&mut self, node: &Node, url: &'u [u8], depth: usize, n_params: usize) -> bool {
        let next = if depth < MAX_URL_SEGMENTS {
            next_segment(url)
        } else {
            None
        };
        let Some((segment, rest)) = next else {
            return self.slots(&node.slots, n_params);
        };
        for child in &node.children {
            let handled = match child.name.as_bytes().first() {
                // A wildcard takes the rest of the URL, whatever it is.
                Some(b'*') => self.slots(&child.slots, n_params),
                Some(b':') if !segment.is_empty() => {
                    self.params[n_params] = segment;
                    self.node(child, rest, depth + 1, n_params + 1)
                }
                _ if same_segment(child.name.as_bytes(), segment) => {
                    self.node(child, rest, depth + 1, n_params)
                }
                _ => false,
            };
            if handled {
                return true;
            }
        }
        false
    }
}

/// Segment equality without calling `memcmp` for empty ones: the name of an empty segment
/// (route "/") is a dangling pointer, and glibc's AVX-512 `memcmp` does a fully masked load
/// from it, which the CPU completes through a slow fault-suppression assist. Measured: 13% of
/// the server's CPU on pipelined `GET /`.
fn same_segment(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIGH: u8 = PRIORITY_HIGH;
    const MEDIUM: u8 = PRIORITY_MEDIUM;
    const LOW: u8 = PRIORITY_LOW;

    /// Handlers are (label, handled?) pairs; routing records every label offered.
    type R = Router<(&'static str, bool)>;

    fn trace(r: &R, method: &str, url: &str) -> (bool, String) {
        let mut out = String::new();
        let handled = r.route(method, url.as_bytes(), &mut |&(label, handled), _| {
            out.push_str(label);
            handled
        });
        (handled, out)
    }

    fn params(r: &Router<&'static str>, url: &str) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        r.route("get", url.as_bytes(), &mut |label, p| {
            let vals = (0..p.len())
                .map(|i| String::from_utf8(p.get(i).unwrap().to_vec()).unwrap())
                .collect();
            out.push((label.to_string(), vals));
            false
        });
        out
    }

    // Ported from uWebSockets tests/HttpRouter.cpp of the v20.30 era (any = all methods).
    #[test]
    fn method_priority() {
        let mut r = R::new();
        r.add("*", "/static/route", LOW, ("AS", true));
        r.add("patch", "/static/route", MEDIUM, ("PS", false));
        r.add("get", "/static/route", MEDIUM, ("GS", true));
        assert_eq!(trace(&r, "nonsense", "/static/route"), (false, "".into()));
        assert_eq!(trace(&r, "get", "/static"), (false, "".into()));
        assert_eq!(trace(&r, "post", "/static/route"), (true, "AS".into()));
        assert_eq!(trace(&r, "get", "/static/route"), (true, "GS".into()));
        assert_eq!(trace(&r, "patch", "/static/route"), (true, "PSAS".into()));
    }

    #[test]
    fn pattern_priority() {
        let mut r = R::new();
        r.add("*", "/a/b/c", LOW, ("AS", false));
        r.add("get", "/a/:b/c", MEDIUM, ("GP", false));
        r.add("get", "/a/*", MEDIUM, ("GW", false));
        r.add("get", "/a/b/c", MEDIUM, ("GS", false));
        r.add("post", "/a/:b/c", MEDIUM, ("PP", false));
        r.add("*", "/a/:b/c", LOW, ("AP", false));
        assert_eq!(trace(&r, "post", "/a/b/c"), (false, "ASPPAP".into()));
        assert_eq!(trace(&r, "get", "/a/b/c"), (false, "GSASGPAPGW".into()));
    }

    #[test]
    fn upgrade_routes_first() {
        let mut r = R::new();
        r.add("get", "/something", MEDIUM, ("GS", true));
        r.add("get", "/*", MEDIUM, ("GW", false));
        r.add("get", "/*", HIGH, ("WW", false));
        assert_eq!(trace(&r, "get", "/something"), (true, "WWGS".into()));
        assert_eq!(trace(&r, "get", "/"), (false, "WWGW".into()));
    }

    #[test]
    fn bug_reports() {
        let mut r = R::new();
        r.add("get", "/foo//////bar/baz/qux", MEDIUM, ("MANYSLASH", false));
        r.add("get", "/foo", MEDIUM, ("FOO", false));
        let all: String = [
            "/foo",
            "/foo/",
            "/foo//bar/baz/qux",
            "/foo//////bar/baz/qux",
        ]
        .iter()
        .map(|u| trace(&r, "get", u).1)
        .collect();
        assert_eq!(all, "FOOMANYSLASH");

        let mut r = R::new();
        r.add("get", "/test/*", MEDIUM, ("TEST", false));
        assert_eq!(trace(&r, "get", "/test/").1, "TEST");

        let mut r = R::new();
        r.add("get", "/*", HIGH, ("WW", false));
        r.add("get", "/ok", MEDIUM, ("GS", false));
        r.add("get", "/*", MEDIUM, ("GW", false));
        assert_eq!(trace(&r, "get", "/ok").1, "WWGSGW");

        let mut r = R::new();
        r.add("get", "/", HIGH, ("WS", false));
        r.add("get", "/", MEDIUM, ("GS", false));
        assert_eq!(trace(&r, "get", "/").1, "WSGS");

        let mut r = R::new();
        r.add("get", "/*", HIGH, ("WW", false));
        r.add("get", "/static", MEDIUM, ("GSL", false));
        r.add("*", "/*", LOW, ("AW", false));
        assert_eq!(trace(&r, "get", "/static").1, "WWGSLAW");

        let mut r = R::new();
        r.add("get", "/*", HIGH, ("WW", false));
        r.add("get", "/", MEDIUM, ("GSS", false));
        r.add("get", "/static", MEDIUM, ("GSL", false));
        r.add("*", "/*", LOW, ("AW", false));
        assert_eq!(trace(&r, "get", "/static").1, "WWGSLAW");

        // Measured on v20.30: static before param regardless of registration order.
        let mut r = R::new();
        r.add("get", "/foo", MEDIUM, ("FOO", false));
        r.add("get", "/:id", MEDIUM, ("ID", false));
        r.add("get", "/1ab", MEDIUM, ("ONEAB", false));
        r.add("get", "/*", MEDIUM, ("STAR", false));
        r.add("get", "/", MEDIUM, ("STATIC", false));
        assert_eq!(trace(&r, "get", "/1ab").1, "ONEABIDSTAR");
        assert_eq!(trace(&r, "get", "/").1, "STATICSTAR");
    }

    #[test]
    fn parameters() {
        let mut r = Router::new();
        r.add("get", "/candy/:kind/*", MEDIUM, "GPW");
        r.add("get", "/candy/lollipop/*", MEDIUM, "GLW");
        r.add("get", "/candy/:kind/:action", MEDIUM, "GPP");
        r.add("get", "/candy/lollipop/:action", MEDIUM, "GLP");
        r.add("get", "/candy/lollipop/eat", MEDIUM, "GLS");
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            params(&r, "/candy/lollipop/eat"),
            vec![
                ("GLS".into(), v(&[])),
                ("GLP".into(), v(&["eat"])),
                ("GLW".into(), v(&[])),
                ("GPP".into(), v(&["lollipop", "eat"])),
                ("GPW".into(), v(&["lollipop"])),
            ]
        );
        let labels = |url| {
            params(&r, url)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<String>()
        };
        assert_eq!(
            labels("/candy/lollipop/") + &labels("/candy/lollipop") + &labels("/candy/"),
            "GLWGPW"
        );
    }

    #[test]
    fn any_vs_method_measured_on_v20_30() {
        // get('/*'), get('/:p'), get('/static'), any('/static'); GET /static with yields.
        let mut r = R::new();
        r.add("get", "/*", MEDIUM, ("star", false));
        r.add("get", "/:p", MEDIUM, ("param", false));
        r.add("get", "/static", MEDIUM, ("get-static", false));
        r.add("*", "/static", LOW, ("any-static", false));
        assert_eq!(
            trace(&r, "get", "/static").1,
            "get-staticany-staticparamstar"
        );
        assert_eq!(trace(&r, "post", "/static"), (false, "any-static".into()));
        assert_eq!(trace(&r, "get", "/other").1, "paramstar");
        assert_eq!(trace(&r, "get", "/static/").1, "star");
        assert_eq!(trace(&r, "get", "//x").1, "star");
    }

    #[test]
    fn param_and_wildcard_edges() {
        let mut r = R::new();
        r.add("get", "/p/:a/:b", MEDIUM, ("p", true));
        r.add("get", "/t/", MEDIUM, ("t-slash", true));
        r.add("get", "/u/*", MEDIUM, ("u-star", true));
        r.add("get", "/w/*/x", MEDIUM, ("mid-star", true));
        assert_eq!(trace(&r, "get", "/p/1/2"), (true, "p".into()));
        assert_eq!(
            trace(&r, "get", "/p/1/"),
            (false, "".into()),
            "empty segment is not a param"
        );
        assert_eq!(trace(&r, "get", "/p/1/2/3"), (false, "".into()));
        assert!(!trace(&r, "get", "/t").0);
        assert_eq!(trace(&r, "get", "/t/"), (true, "t-slash".into()));
        assert!(!trace(&r, "get", "/u").0, "/u/* needs the slash");
        assert_eq!(trace(&r, "get", "/u/"), (true, "u-star".into()));
        assert_eq!(trace(&r, "get", "/u/a/b/c"), (true, "u-star".into()));
        // A '*' in the middle of a pattern never lets the walk continue past it (as in uWS).
        assert!(!trace(&r, "get", "/w/a/x").0);
        assert!(!trace(&r, "get", "").0);
    }

    #[test]
    fn unknown_and_case_sensitive_methods_do_not_match_any() {
        let mut r = R::new();
        r.add("*", "/*", LOW, ("any", true));
        for m in ANY_METHODS {
            assert!(trace(&r, m, "/x").0, "{m}");
        }
        assert!(!trace(&r, "foo", "/x").0);
        assert!(!trace(&r, "GET", "/x").0);
    }

    #[test]
    fn param_names_follow_the_matched_route() {
        let mut r = Router::new();
        r.add("get", "/u/:id/:action", MEDIUM, "a");
        r.add("get", "/u/:user/*", MEDIUM, "b");
        let mut seen = Vec::new();
        r.route("get", b"/u/7/run", &mut |label, p| {
            let own = |v: Option<&[u8]>| v.map(<[u8]>::to_vec);
            seen.push((
                *label,
                own(p.by_name("id")),
                own(p.by_name("user")),
                own(p.by_name("action")),
                own(p.get(1)),
            ));
            false
        });
        assert_eq!(
            seen,
            vec![
                (
                    "a",
                    Some(b"7".to_vec()),
                    None,
                    Some(b"run".to_vec()),
                    Some(b"run".to_vec())
                ),
                ("b", None, Some(b"7".to_vec()), None, None),
            ]
        );
    }

    #[test]
    fn replace_and_remove() {
        let mut r = R::new();
        r.add("get", "/x", MEDIUM, ("old", true));
        r.add("get", "/x", HIGH, ("ws", false));
        r.add("get", "/x", MEDIUM, ("new", true));
        assert_eq!(trace(&r, "get", "/x"), (true, "wsnew".into()));
        assert!(r.remove("get", "/x", HIGH));
        assert!(!r.remove("get", "/x", HIGH));
        assert_eq!(trace(&r, "get", "/x"), (true, "new".into()));
        assert!(r.remove("get", "/x", MEDIUM));
        assert_eq!(trace(&r, "get", "/x"), (false, "".into()));
        assert!(r.trees.is_empty(), "empty trees are pruned");

        r.add("*", "/a", LOW, ("any", true));
        r.add("get", "/a/b", MEDIUM, ("ab", true));
        assert!(r.remove("*", "/a", LOW));
        assert!(!trace(&r, "post", "/a").0);
        assert_eq!(trace(&r, "get", "/a/b"), (true, "ab".into()));
        // Freed route slots are reused without disturbing order.
        r.add("get", "/a/*", MEDIUM, ("astar", false));
        assert_eq!(trace(&r, "get", "/a/b"), (true, "ab".into()));
    }

    #[test]
    fn registration_order_among_equals() {
        let mut r = R::new();
        r.add("get", "/:a", MEDIUM, ("A", false));
        r.add("get", "/:b", MEDIUM, ("B", false));
        r.add("*", "/:c", LOW, ("C", false));
        // Different param names are different nodes, tried in insertion order.
        assert_eq!(trace(&r, "get", "/v").1, "ABC");
    }

    #[test]
    fn url_segment_limit() {
        let mut r = R::new();
        let deep = "/s".repeat(MAX_URL_SEGMENTS);
        r.add("get", &deep, MEDIUM, ("deep", true));
        assert!(trace(&r, "get", &deep).0);
        // Segments past the limit are ignored, as uWS stops splitting there.
        assert!(trace(&r, "get", &format!("{deep}/extra")).0);
    }
}
