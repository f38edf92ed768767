//! The router of generated servers: a trie of path segments over the API's
//! path templates, so that routing a request costs about the same in an API
//! of five operations as in one of two thousand.
//!
//! Precedence is that of the templates' specificity, segment by segment: a
//! literal segment (`/pets/mine`) before a parameter with literal text
//! around it (`/files/{name}.json`, more text first), before a bare
//! parameter (`/pets/{id}`); among the routes of one template shape, one
//! whose path key fixes query pairs (`/responses?beta=true`) before one
//! without, then the order of the document. When a template matches the
//! path but not the method, the next matching one is tried; when none takes
//! the method, the first match's methods are the `Allow` of a 405.

use crate::rejection::Rejection;
use std::collections::HashMap;

/// One path key of the document and the operations under it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path template, without query: `/pets/{petId}`.
    pub template: &'static str,
    /// The query pairs the path key fixes (`beta=true` of
    /// `/responses?beta=true`): the route matches only requests that hold
    /// them.
    pub fixed_query: Option<&'static str>,
    /// Each method of the path and the index of its operation.
    pub methods: &'static [(&'static str, usize)],
}

/// The rejection of a request whose path no operation matches.
pub fn not_found(uri: &http::Uri) -> Rejection {
    Rejection::NotFound {
        path: uri.path().to_owned(),
    }
}

/// A route of the router table (a shorter form of [`Route`]).
pub const fn route(
    template: &'static str,
    fixed_query: Option<&'static str>,
    methods: &'static [(&'static str, usize)],
) -> Route {
    Route {
        template,
        fixed_query,
        methods,
    }
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed<'r> {
    /// The operation of this index, with the raw (still percent-encoded)
    /// values of its template's parameters, in template order.
    Operation(usize, Vec<String>),
    /// A template matched the path but none took the method: these are the
    /// methods of the first that matched (an `Allow` header).
    MethodNotAllowed(&'r str),
    /// No template matched the path.
    NotFound,
}

/// The routes of an API, built once.
#[derive(Debug)]
pub struct Router {
    root: Node,
    routes: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    route: Route,
    /// The methods, joined for an `Allow` header.
    allow: String,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by a literal segment.
    literal: HashMap<&'static str, Node>,
    /// Children by a parameter with literal text around it, most text first.
    patterned: Vec<Pattern>,
    /// The child of a bare parameter (`{id}`).
    param: Option<Box<Node>>,
    /// The routes whose template ends here, in precedence order.
    routes: Vec<usize>,
}

#[derive(Debug)]
struct Pattern {
    prefix: &'static str,
    suffix: &'static str,
    /// Several parameters in one segment (`{a}-{b}`): the whole segment is
    /// one capture, as the generator never emits such templates.
    whole: bool,
    node: Node,
}

impl Pattern {
    /// Literal characters of the segment.
    fn text(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    fn capture<'p>(&self, segment: &'p str) -> Option<&'p str> {
        if self.whole {
            return Some(segment);
        }
        let value = segment
            .strip_prefix(self.prefix)?
            .strip_suffix(self.suffix)?;
        (!value.is_empty()).then_some(value)
    }
}

/// A template segment's kind.
enum Segment {
    Literal(&'static str),
    Param,
    Pattern {
        prefix: &'static str,
        suffix: &'static str,
        whole: bool,
    },
}

fn parse_segment(segment: &'static str) -> Segment {
    let Some(open) = segment.find('{') else {
        return Segment::Literal(segment);
    };
    let Some(close) = segment[open..].find('}').map(|c| c + open) else {
        // An unclosed brace is literal text.
        return Segment::Literal(segment);
    };
    let prefix = &segment[..open];
    let suffix = &segment[close + 1..];
    if suffix.contains('{') {
        return Segment::Pattern {
            prefix: "",
            suffix: "",
            whole: true,
        };
    }
    if prefix.is_empty() && suffix.is_empty() {
        return Segment::Param;
    }
    Segment::Pattern {
        prefix,
        suffix,
        whole: false,
    }
}

impl Router {
    /// The router of `routes` (in the document's order).
    pub fn new(routes: &[Route]) -> Router {
        let mut router = Router {
            root: Node::default(),
            routes: Vec::with_capacity(routes.len()),
        };
        for route in routes {
            let index = router.routes.len();
            let allow = route
                .methods
                .iter()
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", ");
            router.routes.push(Entry {
                route: *route,
                allow,
            });
            let mut node = &mut router.root;
            for segment in route.template.split('/') {
                node = node.child(parse_segment(segment));
            }
            node.routes.push(index);
            // A fixed query narrows the template: it goes first; otherwise
            // the document's order stays.
            let entries = &router.routes;
            node.routes
                .sort_by_key(|&i| (entries[i].route.fixed_query.is_none(), i));
        }
        router
    }

    /// The operation of a request and the raw values of its path
    /// parameters, or the rejection of a path or method that none matches.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] or [`Rejection::MethodNotAllowed`].
    pub fn find(
        &self,
        method: &http::Method,
        uri: &http::Uri,
    ) -> Result<(usize, Vec<String>), Rejection> {
        match self.route(method, uri) {
            Routed::Operation(op, captures) => Ok((op, captures)),
            Routed::MethodNotAllowed(allowed) => Err(Rejection::MethodNotAllowed {
                allowed: allowed.to_owned(),
            }),
            Routed::NotFound => Err(not_found(uri)),
        }
    }

    /// Routes a request by its method, path and (for fixed query pairs)
    /// query.
    pub fn route(&self, method: &http::Method, uri: &http::Uri) -> Routed<'_> {
        let segments: Vec<&str> = uri.path().split('/').collect();
        let mut captures = Vec::new();
        let mut allow = None;
        let mut found = None;
        self.root
            .walk(&segments, &mut captures, &mut |routes, captures| {
                for &index in routes {
                    let entry = &self.routes[index];
                    if let Some(fixed) = entry.route.fixed_query {
                        if !crate::api::param::query_has(uri, fixed) {
                            continue;
                        }
                    }
                    let operation = entry
                        .route
                        .methods
                        .iter()
                        .find(|(m, _)| *m == method.as_str());
                    match operation {
                        Some(&(_, op)) => {
                            found = Some((op, captures.iter().map(|c| (*c).to_owned()).collect()));
                            return true;
                        }
                        None => {
                            allow.get_or_insert(entry.allow.as_str());
                        }
                    }
                }
                false
            });
        match (found, allow) {
            (Some((op, captures)), _) => Routed::Operation(op, captures),
            (None, Some(allow)) => Routed::MethodNotAllowed(allow),
            (None, None) => Routed::NotFound,
        }
    }
}

impl Node {
    fn child(&mut self, segment: Segment) -> &mut Node {
        match segment {
            Segment::Literal(text) => self.literal.entry(text).or_default(),
            Segment::Param => self.param.get_or_insert_with(Box::default),
            Segment::Pattern {
                prefix,
                suffix,
                whole,
            } => {
                let at = self
                    .patterned
                    .iter()
                    .position(|p| p.prefix == prefix && p.suffix == suffix && p.whole == whole);
                let at = match at {
                    Some(at) => at,
                    None => {
                        let pattern = Pattern {
                            prefix,
                            suffix,
                            whole,
                            node: Node::default(),
                        };
                        // More literal text first; a tie keeps the order of
                        // the document (stable).
                        let at = self
                            .patterned
                            .iter()
                            .position(|p| p.text() < pattern.text())
                            .unwrap_or(self.patterned.len());
                        self.patterned.insert(at, pattern);
                        at
                    }
                };
                &mut self.patterned[at].node
            }
        }
    }

    /// Depth first in precedence order; `visit` gets the routes of each
    /// node the whole path reaches, and says whether to stop.
    fn walk<'p>(
        &self,
        segments: &[&'p str],
        captures: &mut Vec<&'p str>,
        visit: &mut dyn FnMut(&[usize], &[&'p str]) -> bool,
    ) -> bool {
        let Some((segment, rest)) = segments.split_first() else {
            return !self.routes.is_empty() && visit(&self.routes, captures);
        };
        if let Some(child) = self.literal.get(segment) {
            if child.walk(rest, captures, visit) {
                return true;
            }
        }
        for pattern in &self.patterned {
            if let Some(value) = pattern.capture(segment) {
                captures.push(value);
                if pattern.node.walk(rest, captures, visit) {
                    return true;
                }
                captures.pop();
            }
        }
        if let Some(child) = &self.param {
            if !segment.is_empty() {
                captures.push(segment);
                if child.walk(rest, captures, visit) {
                    return true;
                }
                captures.pop();
            }
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::{Method, Uri};

    fn router() -> Router {
        Router::new(&[
            Route {
                template: "/pets/{id}",
                fixed_query: None,
                methods: &[("GET", 0), ("DELETE", 1)],
            },
            Route {
                template: "/pets/mine",
                fixed_query: None,
                methods: &[("GET", 2)],
            },
            Route {
                template: "/files/{name}.html",
                fixed_query: None,
                methods: &[("GET", 3)],
            },
            Route {
                template: "/files/{name}.rw.html",
                fixed_query: None,
                methods: &[("GET", 4)],
            },
            Route {
                template: "/responses",
                fixed_query: None,
                methods: &[("POST", 5)],
            },
            Route {
                template: "/responses",
                fixed_query: Some("beta=true"),
                methods: &[("POST", 6)],
            },
            Route {
                template: "/things/{a}/x",
                fixed_query: None,
                methods: &[("PUT", 7)],
            },
            Route {
                template: "/things/b/{c}",
                fixed_query: None,
                methods: &[("GET", 8)],
            },
            Route {
                template: "/things/{a}/{b}",
                fixed_query: None,
                methods: &[("QUERY", 9)],
            },
        ])
    }

    fn route(method: &str, uri: &str) -> Routed<'static> {
        let router = Box::leak(Box::new(router()));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        router.route(&method, &uri.parse::<Uri>().unwrap())
    }

    fn op(index: usize, captures: &[&str]) -> Routed<'static> {
        Routed::Operation(index, captures.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn literals_before_patterns_before_parameters() {
        assert_eq!(route("GET", "/pets/mine"), op(2, &[]));
        assert_eq!(route("GET", "/pets/7"), op(0, &["7"]));
        assert_eq!(route("DELETE", "/pets/mine"), op(1, &["mine"]));
        assert_eq!(route("GET", "/files/a.rw.html"), op(4, &["a"]));
        assert_eq!(route("GET", "/files/a.html"), op(3, &["a"]));
        assert_eq!(route("GET", "/pets/"), Routed::NotFound);
        assert_eq!(route("GET", "/pets/7/x"), Routed::NotFound);
    }

    #[test]
    fn a_wrong_method_tries_the_next_template_then_gives_the_first_allow() {
        // `/things/b/x`: `{a}/x` (PUT) comes after `b/{c}` (GET).
        assert_eq!(route("PUT", "/things/b/x"), op(7, &["b"]));
        assert_eq!(route("GET", "/things/b/x"), op(8, &["x"]));
        assert_eq!(route("QUERY", "/things/b/x"), op(9, &["b", "x"]));
        assert_eq!(
            route("PATCH", "/things/b/x"),
            Routed::MethodNotAllowed("GET")
        );
        assert_eq!(
            route("PATCH", "/pets/7"),
            Routed::MethodNotAllowed("GET, DELETE")
        );
    }

    #[test]
    fn fixed_query_pairs_go_first() {
        assert_eq!(route("POST", "/responses?beta=true"), op(6, &[]));
        assert_eq!(route("POST", "/responses?x=1&beta=true"), op(6, &[]));
        assert_eq!(route("POST", "/responses?beta=false"), op(5, &[]));
        assert_eq!(route("POST", "/responses"), op(5, &[]));
    }
}
