//! The files of a document and `$ref` resolution: any JSON pointer into
//! any file (`~0`/`~1` and percent-encoding), files loaded from disk
//! relative to the file that refers to them, each read once.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Index of a file in [`Files`]; the root document is 0.
pub(super) type FileId = usize;

/// A place in one of the files: the file and an escaped JSON pointer
/// (`""` for the whole file, `/components/schemas/Pet`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct At {
    pub(super) file: FileId,
    pub(super) ptr: String,
}

impl At {
    pub(super) fn root(file: FileId) -> At {
        At {
            file,
            ptr: String::new(),
        }
    }

    /// The member `key` of the object here.
    pub(super) fn key(&self, key: &str) -> At {
        At {
            file: self.file,
            ptr: crate::diag::join(&self.ptr, key),
        }
    }

    /// The element `index` of the array here.
    pub(super) fn index(&self, index: usize) -> At {
        At {
            file: self.file,
            ptr: format!("{}/{index}", self.ptr),
        }
    }
}

struct File {
    value: Rc<Value>,
    /// As given (the root) or joined to the folder of the file that names
    /// it; `None` for a root given as text.
    path: Option<PathBuf>,
    /// The file relative to the root's folder (`schemas/pet.yaml`), empty
    /// for the root: what locations start with.
    prefix: String,
}

/// Why a `$ref` names nothing usable.
#[derive(Debug)]
pub(super) enum RefError {
    /// An error to report at the `$ref`.
    Broken(String),
    /// A plain-name fragment (`#pet`, a JSON Schema `$anchor`): not
    /// supported, to be warned about.
    Anchor(String),
}

/// Every file read, by path, and what failed to load.
pub(super) struct Files {
    files: Vec<File>,
    by_path: HashMap<PathBuf, Result<FileId, String>>,
    /// The folder of the root file (absolute), when it has a path.
    root_dir: Option<PathBuf>,
    /// The folder of the root's 3.2 `$self` URI (`https://example.com/apis/`):
    /// URLs under it are files under the root's folder.
    self_base: Option<String>,
}

impl Files {
    pub(super) fn new(root: Value, path: Option<&Path>) -> Files {
        let root_dir = path.map(|p| {
            absolute(p)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        });
        let mut by_path = HashMap::new();
        if let Some(path) = path {
            by_path.insert(key_of(path), Ok(0));
        }
        Files {
            files: vec![File {
                value: Rc::new(root),
                path: path.map(Path::to_path_buf),
                prefix: String::new(),
            }],
            by_path,
            root_dir,
            self_base: None,
        }
    }

    /// Takes `$self` of the root into account: refs to URLs in its folder
    /// are files in the root's folder.
    pub(super) fn set_self(&mut self, uri: &str) {
        if has_scheme(uri) {
            let base = uri.split('#').next().unwrap_or_default();
            let dir = base.rsplit_once('/').map_or(base, |(dir, _)| dir);
            self.self_base = Some(format!("{dir}/"));
        }
    }

    pub(super) fn value(&self, file: FileId) -> Rc<Value> {
        Rc::clone(&self.files[file].value)
    }

    /// The location of `at` in the user's terms: `#/…` in the root,
    /// `other.yaml#/…` elsewhere.
    pub(super) fn loc(&self, at: &At) -> String {
        format!("{}#{}", self.files[at.file].prefix, at.ptr)
    }

    /// Every file read, the root first (none for a root given as text).
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().filter_map(|f| f.path.clone()).collect()
    }

    /// The place the reference `text`, written in `from`, names (`what`
    /// names the kind of object in messages). Loads the file it names.
    pub(super) fn resolve(&mut self, from: FileId, text: &str, what: &str) -> Result<At, RefError> {
        let (uri, fragment) = match text.split_once('#') {
            Some((uri, fragment)) => (uri, fragment),
            None => (text, ""),
        };
        let file = if uri.is_empty() {
            from
        } else if has_scheme(uri) {
            match self
                .self_base
                .clone()
                .and_then(|b| uri.strip_prefix(&b).map(str::to_owned))
            {
                Some(relative) if !relative.is_empty() => self.load(0, &relative, text)?,
                Some(_) => 0,
                None => {
                    return Err(RefError::Broken(format!(
                        "$ref `{text}` is a URL: documents are not fetched over the network; \
                         save it beside this one and refer to it by a relative path"
                    )))
                }
            }
        } else {
            self.load(from, uri, text)?
        };
        let fragment = percent_decode(fragment);
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(RefError::Anchor(format!(
                "$ref `{text}` names a plain-name fragment ($anchor), which is not supported"
            )));
        }
        let root = self.value(file);
        let mut at = At::root(file);
        let mut value: &Value = &root;
        let tokens: Vec<String> = if fragment.is_empty() {
            Vec::new()
        } else {
            fragment[1..].split('/').map(unescape).collect()
        };
        for (i, token) in tokens.iter().enumerate() {
            let next = match value {
                Value::Object(map) => map.get(token.as_str()),
                Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            let Some(next) = next else {
                // `#/components/schemas/Pet`: no schema `Pet` in
                // #/components/schemas (whether or not that exists).
                let message = if i + 1 == tokens.len() || tokens.len() <= 3 {
                    let mut parent = At::root(file);
                    for token in &tokens[..tokens.len() - 1] {
                        parent = parent.key(token);
                    }
                    let parent = self.loc(&parent);
                    let last = &tokens[tokens.len() - 1];
                    format!("dangling $ref `{text}`: no {what} `{last}` in {parent}")
                } else {
                    let parent = self.loc(&at);
                    format!("dangling $ref `{text}`: no `{token}` in {parent}")
                };
                return Err(RefError::Broken(message));
            };
            value = next;
            at = at.key(token);
        }
        Ok(at)
    }

    /// The file `uri` (a relative path) names from the file `from`.
    fn load(&mut self, from: FileId, uri: &str, text: &str) -> Result<FileId, RefError> {
        let Some(root_dir) = &self.root_dir else {
            return Err(RefError::Broken(format!(
                "$ref `{text}` names another file, but the document was given as text \
                 without a path: load it from its file (generate_file) so that the files \
                 it refers to can be read"
            )));
        };
        let relative = percent_decode(uri);
        let from_path = self.files[from].path.clone().unwrap_or_default();
        let dir = from_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let path = normalise(&dir.join(&relative));
        let key = key_of(&path);
        if let Some(known) = self.by_path.get(&key) {
            return known.clone().map_err(RefError::Broken);
        }
        let prefix = relative_to(root_dir, &absolute(&path));
        let loaded = std::fs::read_to_string(&path)
            .map_err(|e| {
                format!(
                    "cannot read `{prefix}` ({}) for $ref `{text}`: {e}",
                    path.display()
                )
            })
            .and_then(|source| {
                super::parse_text(&source)
                    .map_err(|e| format!("cannot parse `{prefix}` for $ref `{text}`: {e}"))
            });
        let result = loaded.map(|value| {
            self.files.push(File {
                value: Rc::new(value),
                path: Some(path),
                prefix,
            });
            self.files.len() - 1
        });
        self.by_path.insert(key, result.clone());
        result.map_err(RefError::Broken)
    }
}

/// `http:`, `https:`, `urn:`… (a drive letter `C:` is a path).
fn has_scheme(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// One JSON pointer token, unescaped (`~1` → `/`, `~0` → `~`).
fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// `%XX` sequences decoded (invalid ones kept as written).
pub(super) fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let raw = text.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        normalise(path)
    } else {
        let cwd = std::env::current_dir().unwrap_or_default();
        normalise(&cwd.join(path))
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(last, Some(Component::RootDir | Component::Prefix(_))) {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The key of a file in the cache: its canonical path when it exists.
fn key_of(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| absolute(path))
}

/// `path` relative to the folder `dir` (both absolute), with `/`.
fn relative_to(dir: &Path, path: &Path) -> String {
    let dir: Vec<Component<'_>> = dir.components().collect();
    let target: Vec<Component<'_>> = path.components().collect();
    let common = dir.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); dir.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            normalise(Path::new("a/./b/../c/d.yaml")),
            PathBuf::from("a/c/d.yaml")
        );
        assert_eq!(
            relative_to(Path::new("/x/api"), Path::new("/x/api/schemas/pet.yaml")),
            "schemas/pet.yaml"
        );
        assert_eq!(
            relative_to(Path::new("/x/api"), Path::new("/x/common.yaml")),
            "../common.yaml"
        );
        assert!(has_scheme("https://example.com/a.yaml"));
        assert!(!has_scheme("C:/a.yaml"));
        assert!(!has_scheme("schemas/pet.yaml"));
        assert_eq!(percent_decode("a%20b%7E"), "a b~");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
