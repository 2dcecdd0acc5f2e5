//! The registry: every stage kind, loop and mode after parsing, schema
//! validation, workspace shadowing and `extends` patching.
//!
//! Each item remembers the file and JSON pointer it came from ([`Origin`]) so
//! that graph checks can point at the line that causes a problem, even when
//! an overlay patched the loop.

use std::collections::{BTreeMap, BTreeSet};

use crate::defs::diag::{did_you_mean, Diagnostic, Diagnostics, Pos};
use crate::defs::loop_def::{
    EdgeDef, LoopDef, NodeDef, ResumeDef, TaskSize, TerminalDef, ThresholdDef,
};
use crate::defs::mode::ModeDef;
use crate::defs::schema::{self, DocKind};
use crate::defs::stage_kind::{Plane, StageKind};
use crate::defs::yaml::{self, pointer_push, YamlDoc};

use super::sources::{Inputs, Layer, Source};

/// Index of a loaded file in [`Registry::files`].
pub type FileId = usize;

/// A parsed input file.
#[derive(Debug)]
pub struct LoadedFile {
    pub display: String,
    pub layer: Layer,
    pub doc: YamlDoc,
}

/// Where a definition item was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: FileId,
    pub pointer: String,
}

impl Origin {
    fn new(file: FileId, pointer: impl Into<String>) -> Self {
        Origin {
            file,
            pointer: pointer.into(),
        }
    }

    pub fn child(&self, token: &str) -> Origin {
        Origin::new(self.file, pointer_push(&self.pointer, token))
    }
}

#[derive(Debug, Clone)]
pub struct Item<T> {
    pub def: T,
    pub origin: Origin,
}

/// A loop after `extends` patches, each part with its origin.
#[derive(Debug, Clone)]
pub struct ResolvedLoop {
    pub id: String,
    pub plane: Plane,
    pub title: Option<String>,
    pub size: TaskSize,
    pub origin: Origin,
    /// Ids of the loops this one extends, nearest first.
    pub extends: Vec<String>,
    pub entry: BTreeMap<String, Item<String>>,
    pub nodes: BTreeMap<String, Item<NodeDef>>,
    pub edges: Vec<Item<EdgeDef>>,
    pub terminals: BTreeMap<String, Item<TerminalDef>>,
    pub thresholds: Vec<Item<ThresholdDef>>,
    pub resume: Vec<Item<ResumeDef>>,
}

#[derive(Debug, Default)]
pub struct Registry {
    pub files: Vec<LoadedFile>,
    pub stage_kinds: BTreeMap<String, Item<StageKind>>,
    pub loops: BTreeMap<String, ResolvedLoop>,
    pub modes: BTreeMap<String, Item<ModeDef>>,
    /// Ids of definitions that failed to load, so that references to them
    /// are not reported a second time as "unknown".
    pub broken: BTreeSet<(DocKind, String)>,
}

impl Registry {
    /// Whether a definition with this id failed to load (already reported).
    pub fn is_broken(&self, kind: DocKind, id: &str) -> bool {
        self.broken.contains(&(kind, id.to_string()))
    }

    pub fn file(&self, id: FileId) -> &LoadedFile {
        &self.files[id]
    }

    /// Position of the value an origin points at.
    pub fn pos(&self, origin: &Origin) -> Pos {
        self.files[origin.file].doc.pos(&origin.pointer)
    }

    /// Position of the key naming the value an origin points at.
    pub fn key_pos(&self, origin: &Origin) -> Pos {
        self.files[origin.file].doc.key_pos(&origin.pointer)
    }

    /// An error located at `origin`'s value.
    pub fn error(
        &self,
        origin: &Origin,
        code: &'static str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message)
            .at(self.files[origin.file].display.clone(), self.pos(origin))
    }

    /// An error located at the key that names `origin`'s value.
    pub fn key_error(
        &self,
        origin: &Origin,
        code: &'static str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message).at(
            self.files[origin.file].display.clone(),
            self.key_pos(origin),
        )
    }

    /// Resolves a mode id or alias.
    pub fn mode(&self, name: &str) -> Option<&Item<ModeDef>> {
        self.modes.get(name).or_else(|| {
            self.modes
                .values()
                .find(|m| m.def.aliases.iter().any(|a| a == name))
        })
    }

    /// Parses and validates every definition of `inputs`.
    pub fn load(inputs: &Inputs, diags: &mut Diagnostics) -> Registry {
        let mut reg = Registry::default();
        let mut loops: Vec<Item<LoopDef>> = Vec::new();
        // Packaged files first, so that workspace files shadow them.
        let mut ordered: Vec<&(DocKind, Source)> = inputs.definitions.iter().collect();
        ordered.sort_by(|a, b| (a.1.layer, &a.1.path).cmp(&(b.1.layer, &b.1.path)));
        for (kind, source) in ordered {
            let display = source.display();
            let doc = match yaml::parse(&display, &source.text) {
                Ok(doc) => doc,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let file = reg.files.len();
            let parsed = match kind {
                DocKind::StageKind => {
                    schema::load::<StageKind>(*kind, &display, &doc).map(Parsed::Stage)
                }
                DocKind::Loop => schema::load::<LoopDef>(*kind, &display, &doc).map(Parsed::Loop),
                DocKind::Mode => schema::load::<ModeDef>(*kind, &display, &doc).map(Parsed::Mode),
                DocKind::Config => unreachable!("config is not a registry definition"),
            };
            reg.files.push(LoadedFile {
                display,
                layer: source.layer,
                doc,
            });
            let origin = Origin::new(file, "");
            match parsed {
                Err(errs) => {
                    if let Some(id) = reg.files[file].doc.value.get("id").and_then(|v| v.as_str()) {
                        reg.broken.insert((*kind, id.to_string()));
                    }
                    diags.extend(errs)
                }
                Ok(Parsed::Stage(def)) => {
                    let id = def.id.clone();
                    insert_shadowing(
                        &mut reg.stage_kinds,
                        &reg.files,
                        DocKind::StageKind,
                        id,
                        Item { def, origin },
                        diags,
                    )
                }
                Ok(Parsed::Mode(def)) => {
                    let id = def.id.clone();
                    insert_shadowing(
                        &mut reg.modes,
                        &reg.files,
                        DocKind::Mode,
                        id,
                        Item { def, origin },
                        diags,
                    )
                }
                Ok(Parsed::Loop(def)) => loops.push(Item { def, origin }),
            }
        }
        reg.resolve_loops(loops, diags);
        reg.check_mode_aliases(diags);
        reg
    }

    fn check_mode_aliases(&self, diags: &mut Diagnostics) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for id in self.modes.keys() {
            seen.insert(id, id);
        }
        for (id, mode) in &self.modes {
            for (i, alias) in mode.def.aliases.iter().enumerate() {
                if let Some(owner) = seen.get(alias.as_str()) {
                    if *owner != id.as_str() || self.modes.contains_key(alias) {
                        diags.push(self.error(
                            &mode.origin.child("aliases").child(&i.to_string()),
                            "registry.duplicate",
                            format!("mode alias `{alias}` of `{id}` is already the name of mode `{owner}`"),
                        ));
                    }
                    continue;
                }
                seen.insert(alias, id);
            }
        }
    }

    /// Applies shadowing and `extends` to the parsed loops. Packaged loops
    /// come first; a workspace loop either replaces the loop with its id or,
    /// with `extends`, patches a copy of its base.
    fn resolve_loops(&mut self, mut pending: Vec<Item<LoopDef>>, diags: &mut Diagnostics) {
        // Definitions without `extends` go first within a layer; extensions are
        // applied once their base exists (bases may themselves be extensions).
        pending.sort_by_key(|l| (self.files[l.origin.file].layer, l.def.extends.is_some()));
        let mut defined_in_layer: BTreeSet<(Layer, String)> = BTreeSet::new();
        loop {
            let mut progressed = false;
            let mut waiting = Vec::new();
            for item in pending {
                let layer = self.files[item.origin.file].layer;
                let base_ready = match &item.def.extends {
                    None => true,
                    // Extending a loop of the same id patches the layer below,
                    // which is present once the loop id is known at all.
                    Some(base) => {
                        self.loops.contains_key(base)
                            && (base == &item.def.id || !pending_has(&waiting, base))
                    }
                };
                if !base_ready {
                    waiting.push(item);
                    continue;
                }
                progressed = true;
                if !defined_in_layer.insert((layer, item.def.id.clone())) {
                    let first = self
                        .loops
                        .get(&item.def.id)
                        .map(|l| self.files[l.origin.file].display.clone());
                    diags.push(
                        self.error(
                            &item.origin.child("id"),
                            "registry.duplicate",
                            format!("loop `{}` is defined twice", item.def.id),
                        )
                        .with_hint(format!(
                            "it is also defined in {}; rename one of them",
                            first.unwrap_or_default()
                        )),
                    );
                    continue;
                }
                let resolved = match &item.def.extends {
                    None => from_def(&item),
                    Some(base) => match self.extend(&item, base, diags) {
                        Some(r) => r,
                        None => continue,
                    },
                };
                self.loops.insert(resolved.id.clone(), resolved);
            }
            if waiting.is_empty() {
                break;
            }
            if !progressed {
                let base_of: BTreeMap<&str, &str> = waiting
                    .iter()
                    .filter_map(|i| Some((i.def.id.as_str(), i.def.extends.as_deref()?)))
                    .collect();
                for item in &waiting {
                    let base = item.def.extends.as_deref().unwrap_or_default();
                    // Follow the chain: back at this loop means a cycle.
                    let mut chain = vec![item.def.id.as_str()];
                    let mut at = base;
                    while let Some(next) = base_of.get(at) {
                        chain.push(at);
                        if at == item.def.id {
                            break;
                        }
                        if chain.len() > base_of.len() + 1 {
                            break;
                        }
                        at = next;
                    }
                    if chain.last() == Some(&item.def.id.as_str()) && chain.len() > 1 {
                        diags.push(
                            self.error(
                                &item.origin.child("extends"),
                                "registry.extends_cycle",
                                format!(
                                    "loops extend each other in a cycle: {}",
                                    chain.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" → ")
                                ),
                            )
                            .with_hint("a loop can extend a packaged loop of its own id, but not a chain that comes back to it"),
                        );
                        continue;
                    }
                    let known: Vec<&str> = self.loops.keys().map(String::as_str).collect();
                    let mut d = self.error(
                        &item.origin.child("extends"),
                        "registry.unknown_loop",
                        format!("loop `{}` extends unknown loop `{base}`", item.def.id),
                    );
                    if let Some(s) = did_you_mean(base, known.iter().copied()) {
                        d = d.with_hint(format!("did you mean `{s}`?"));
                    } else {
                        d = d.with_hint(format!("known loops: {}", known.join(", ")));
                    }
                    diags.push(d);
                }
                break;
            }
            pending = waiting;
        }
    }

    fn extend(
        &self,
        item: &Item<LoopDef>,
        base_id: &str,
        diags: &mut Diagnostics,
    ) -> Option<ResolvedLoop> {
        let base = self.loops.get(base_id)?;
        let def = &item.def;
        if base.plane != def.plane {
            diags.push(self.error(
                &item.origin.child("plane"),
                "registry.plane_mismatch",
                format!(
                    "loop `{}` is on plane `{}` but extends `{base_id}` on plane `{}`",
                    def.id,
                    def.plane.as_str(),
                    base.plane.as_str()
                ),
            ));
            return None;
        }
        let mut out = base.clone();
        out.id = def.id.clone();
        out.origin = item.origin.clone();
        out.extends.insert(0, base_id.to_string());
        if def.title.is_some() {
            out.title = def.title.clone();
        }
        if let Some(size) = def.size {
            out.size = size;
        }
        for (i, node) in def.remove_nodes.iter().enumerate() {
            if out.nodes.remove(node).is_none() {
                diags.push(self.error(
                    &item.origin.child("remove_nodes").child(&i.to_string()),
                    "registry.unknown_node",
                    format!("cannot remove node `{node}`: `{base_id}` has no such node"),
                ));
            }
            out.edges.retain(|e| e.def.from != *node);
            out.entry.retain(|_, n| n.def != *node);
        }
        for (i, key) in def.remove_edges.iter().enumerate() {
            let before = out.edges.len();
            out.edges.retain(|e| e.def.key() != *key);
            if out.edges.len() == before {
                diags.push(
                    self.error(
                        &item.origin.child("remove_edges").child(&i.to_string()),
                        "registry.unknown_edge",
                        format!("cannot remove edge `{key}`: `{base_id}` has no such edge"),
                    )
                    .with_hint(
                        "edge ids default to `<from>:<first outcome>`; see `millrace loops show`",
                    ),
                );
            }
        }
        let own = from_def(item);
        out.entry.extend(own.entry);
        out.nodes.extend(own.nodes);
        out.terminals.extend(own.terminals);
        for edge in own.edges {
            let key = edge.def.key();
            match out.edges.iter_mut().find(|e| e.def.key() == key) {
                Some(slot) => *slot = edge,
                None => out.edges.push(edge),
            }
        }
        for t in own.thresholds {
            match out
                .thresholds
                .iter_mut()
                .find(|x| x.def.counter == t.def.counter)
            {
                Some(slot) => *slot = t,
                None => out.thresholds.push(t),
            }
        }
        for r in own.resume {
            match out
                .resume
                .iter_mut()
                .find(|x| x.def.from == r.def.from && x.def.on == r.def.on)
            {
                Some(slot) => *slot = r,
                None => out.resume.push(r),
            }
        }
        Some(out)
    }
}

fn pending_has(items: &[Item<LoopDef>], id: &str) -> bool {
    items.iter().any(|i| i.def.id == id)
}

fn from_def(item: &Item<LoopDef>) -> ResolvedLoop {
    let o = &item.origin;
    let def = &item.def;
    ResolvedLoop {
        id: def.id.clone(),
        plane: def.plane,
        title: def.title.clone(),
        size: def.size.unwrap_or_default(),
        origin: o.clone(),
        extends: Vec::new(),
        entry: def
            .entry
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Item {
                        def: v.clone(),
                        origin: o.child("entry").child(k),
                    },
                )
            })
            .collect(),
        nodes: def
            .nodes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Item {
                        def: v.clone(),
                        origin: o.child("nodes").child(k),
                    },
                )
            })
            .collect(),
        edges: def
            .edges
            .iter()
            .enumerate()
            .map(|(i, e)| Item {
                def: e.clone(),
                origin: o.child("edges").child(&i.to_string()),
            })
            .collect(),
        terminals: def
            .terminals
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Item {
                        def: v.clone(),
                        origin: o.child("terminals").child(k),
                    },
                )
            })
            .collect(),
        thresholds: def
            .thresholds
            .iter()
            .enumerate()
            .map(|(i, t)| Item {
                def: t.clone(),
                origin: o.child("thresholds").child(&i.to_string()),
            })
            .collect(),
        resume: def
            .resume
            .iter()
            .enumerate()
            .map(|(i, r)| Item {
                def: r.clone(),
                origin: o.child("resume").child(&i.to_string()),
            })
            .collect(),
    }
}

enum Parsed {
    Stage(StageKind),
    Loop(LoopDef),
    Mode(ModeDef),
}

/// Inserts a stage kind or mode: a workspace definition shadows a packaged
/// one with the same id; two definitions in the same layer are an error.
fn insert_shadowing<T>(
    table: &mut BTreeMap<String, Item<T>>,
    files: &[LoadedFile],
    kind: DocKind,
    id: String,
    item: Item<T>,
    diags: &mut Diagnostics,
) {
    if let Some(existing) = table.get(&id) {
        let first = &files[existing.origin.file];
        if first.layer == files[item.origin.file].layer {
            let file = &files[item.origin.file];
            diags.push(
                Diagnostic::error(
                    "registry.duplicate",
                    format!("{} `{id}` is defined twice", kind.noun()),
                )
                .at(file.display.clone(), file.doc.pos("/id"))
                .with_hint(format!(
                    "it is also defined in {}; rename one of them",
                    first.display
                )),
            );
            return;
        }
    }
    table.insert(id, item);
}
