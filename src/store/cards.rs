//! Task cards and store files (spec §3.1).
//!
//! A card starts at a line `## YYYY-MM-DD - Title` (hyphen or em dash) and
//! runs to the next such line; text before the first card is the store's
//! preamble. Cards keep their raw markdown, so a store read and written back
//! is unchanged. Body fields are `**Name:** value` lines.

use serde::Serialize;

/// One task card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Heading line plus body, trailing newlines stripped.
    pub raw: String,
    pub date: String,
    pub title: String,
    /// `Task-ID` field, else `<date>__<slug(title)>`.
    pub id: String,
    pub spec_id: Option<String>,
}

/// A card borrowed from a store's text: parsing without copying, for
/// read paths over large backlogs.
#[derive(Debug, Clone, Copy)]
pub struct CardRef<'a> {
    pub raw: &'a str,
    pub date: &'a str,
    pub title: &'a str,
}

impl<'a> CardRef<'a> {
    fn body(&self) -> &'a str {
        self.raw
            .split_once('\n')
            .map_or("", |(_, b)| b.trim_matches('\n'))
    }

    /// `(Task-ID field, Spec-ID field)` in one pass over the body.
    fn id_fields(&self) -> (Option<&'a str>, Option<&'a str>) {
        let (mut task_id, mut spec_id) = (None, None);
        for (name, value) in self.body().lines().filter_map(parse_field) {
            if task_id.is_none() && name.eq_ignore_ascii_case("Task-ID") {
                task_id = Some(value);
            } else if spec_id.is_none() && name.eq_ignore_ascii_case("Spec-ID") {
                spec_id = Some(value);
            }
        }
        (task_id, spec_id)
    }

    pub fn view(&self) -> TaskView {
        let (task_id, spec_id) = self.id_fields();
        TaskView {
            spec_id: spec_id.map(str::to_string),
            task_id: task_id.map_or_else(
                || format!("{}__{}", self.date, slug(self.title)),
                str::to_string,
            ),
            title: self.title.to_string(),
        }
    }

    pub fn to_card(&self) -> Card {
        let view = self.view();
        Card {
            raw: self.raw.to_string(),
            date: self.date.to_string(),
            title: view.title,
            id: view.task_id,
            spec_id: view.spec_id,
        }
    }
}

/// Fenced code blocks across the lines of a store: a `## ` line inside
/// ```` ``` ```` or `~~~` fences is body text, never a card heading. Every
/// reader and writer of cards finds headings through [`heading_starts`],
/// which carries this state from one block of lines to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fence {
    /// The open fence's character and length.
    open: Option<(u8, usize)>,
}

impl Fence {
    /// Whether a fence is open (at the end of what was fed).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Feeds one line; true when it is a fence line (it opened or closed
    /// a fence, or is fence text inside one).
    pub fn feed(&mut self, line: &str) -> bool {
        let Some((c, n, rest)) = fence_line(line) else {
            return false;
        };
        match self.open {
            None => self.open = Some((c, n)),
            Some((oc, on)) if oc == c && n >= on && rest.trim().is_empty() => self.open = None,
            Some(_) => {}
        }
        true
    }
}

/// A fence line: up to three spaces, then three or more backticks or
/// tildes; its character, length and the rest of the line.
fn fence_line(line: &str) -> Option<(u8, usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = *trimmed.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = trimmed.bytes().take_while(|b| *b == c).count();
    (n >= 3).then(|| (c, n, &trimmed[n..]))
}

/// The start offsets of the lines of `text` that begin with `##` outside
/// fenced code blocks (the only lines that can be card headings), found
/// with substring searches rather than by splitting every line. `text`
/// starts at a line start; `fence` carries the fence state in and out.
pub fn heading_starts(text: &str, fence: &mut Fence) -> Vec<usize> {
    let line_start = |i: usize| text[..i].rfind('\n').map_or(0, |n| n + 1);
    let mut candidates: Vec<usize> = text
        .starts_with("##")
        .then_some(0)
        .into_iter()
        .chain(text.match_indices("\n##").map(|(i, _)| i + 1))
        .collect();
    for pat in ["```", "~~~"] {
        for (i, _) in text.match_indices(pat) {
            let ls = line_start(i);
            if i - ls <= 3 && text.as_bytes()[ls..i].iter().all(|b| *b == b' ') {
                candidates.push(ls);
            }
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut out = Vec::new();
    for start in candidates {
        let rest = &text[start..];
        let line = rest[..rest.find('\n').unwrap_or(rest.len())].trim_end_matches('\r');
        if !fence.feed(line) && !fence.is_open() && line.starts_with("##") {
            out.push(start);
        }
    }
    out
}

/// Byte span of the first card of `text`: its heading to the next card's
/// heading (or the end of `text`), and whether a next heading closed it
/// (when `text` is a prefix of a longer file, an unclosed card may go on).
pub fn first_span(text: &str) -> Option<(usize, usize, bool)> {
    let mut start = None;
    for offset in heading_starts(text, &mut Fence::default()) {
        let rest = &text[offset..];
        let line = rest[..rest.find('\n').unwrap_or(rest.len())].trim_end_matches('\r');
        match heading_kind(line) {
            Some(Heading::Card) => {
                if let Some(start) = start {
                    return Some((start, offset, true));
                }
                start = Some(offset);
            }
            // A heading without a title ends the card above: its text
            // is not that card's, so it is never run or archived with
            // it (it stays in the store, reported by the lint).
            Some(Heading::Untitled) if start.is_some() => {
                return Some((start?, offset, true));
            }
            _ => {}
        }
    }
    // A last line without its newline may be a heading cut in half.
    Some((start?, text.len(), false))
}

/// Splits a store's text into its preamble and borrowed cards.
pub fn scan(text: &str) -> (&str, Vec<CardRef<'_>>) {
    let starts: Vec<usize> = heading_starts(text, &mut Fence::default())
        .into_iter()
        .filter(|&s| {
            let rest = &text[s..];
            parse_heading(rest[..rest.find('\n').unwrap_or(rest.len())].trim_end_matches('\r'))
                .is_some()
        })
        .collect();
    let preamble = text[..starts.first().copied().unwrap_or(text.len())].trim_end();
    let cards = starts
        .iter()
        .enumerate()
        .filter_map(|(i, &start)| {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            let raw = text[start..end].trim_end_matches(['\n', '\r']);
            let (date, title) = parse_heading(raw.lines().next()?)?;
            Some(CardRef { raw, date, title })
        })
        .collect();
    (preamble, cards)
}

/// The `{spec_id, task_id, title}` view printed by queue commands. Fields
/// are declared in sorted order so direct serialisation matches v0.2.0's
/// sorted-key JSON without building a `Value` per card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TaskView {
    pub spec_id: Option<String>,
    pub task_id: String,
    pub title: String,
}

impl Card {
    /// Builds a card as `add-task` writes it: heading, then the spec id
    /// field and the body separated by a blank line.
    pub fn new(date: &str, title: &str, body: Option<&str>, spec_id: Option<&str>) -> Card {
        // A title never carries a line break or a control character into
        // the heading (callers refuse them; this is the last guard).
        let title = crate::defs::text::clean_line(title);
        let title = if title.is_empty() { "task" } else { &title };
        let mut raw = format!("## {date} - {title}");
        let mut parts = Vec::new();
        if let Some(s) = spec_id.filter(|s| !s.trim().is_empty()) {
            parts.push(format!("- **Spec-ID:** {}", s.trim()));
        }
        if let Some(b) = body.map(str::trim).filter(|b| !b.is_empty()) {
            parts.push(b.to_string());
        }
        if !parts.is_empty() {
            raw.push('\n');
            raw.push_str(&parts.join("\n\n"));
        }
        Card::from_raw(raw).expect("a generated heading parses")
    }

    /// Parses a card from its raw text; `None` if the first line is not a
    /// card heading.
    pub fn from_raw(raw: String) -> Option<Card> {
        let (date, title) = parse_heading(raw.lines().next()?)?;
        Some(
            CardRef {
                raw: &raw,
                date,
                title,
            }
            .to_card(),
        )
    }

    /// The body: everything after the heading line.
    pub fn body(&self) -> &str {
        self.raw
            .split_once('\n')
            .map_or("", |(_, b)| b.trim_matches('\n'))
    }

    /// Value of a single-line `**Name:** value` field (case-insensitive).
    pub fn field(&self, name: &str) -> Option<String> {
        self.body()
            .lines()
            .filter_map(parse_field)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    }

    /// The list a `**Name:**` field holds (case-insensitive): its value
    /// split on commas, or else the bullet lines right after it; items
    /// lose their backticks.
    pub fn field_list(&self, name: &str) -> Option<Vec<String>> {
        let clean = |t: &str| t.trim().trim_matches('`').trim().to_string();
        let mut lines = self.body().lines();
        let inline = lines.by_ref().find_map(|l| {
            parse_field(l)
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })?;
        let mut items: Vec<String> = inline.split(',').map(clean).collect();
        items.retain(|i| !i.is_empty());
        if items.is_empty() {
            for line in lines {
                let t = line.trim();
                match t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
                    Some(item) => items.push(clean(item)),
                    None if t.is_empty() && items.is_empty() => continue,
                    None => break,
                }
            }
            items.retain(|i| !i.is_empty());
        }
        Some(items)
    }

    /// Every `**Name:** value` line of the body, in order.
    pub fn fields(&self) -> Vec<(String, String)> {
        self.body()
            .lines()
            .filter_map(parse_field)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    pub fn view(&self) -> TaskView {
        TaskView {
            task_id: self.id.clone(),
            title: self.title.clone(),
            spec_id: self.spec_id.clone(),
        }
    }
}

fn parse_field(line: &str) -> Option<(&str, &str)> {
    let l = line.trim_start();
    if !l.starts_with(['*', '-']) {
        return None;
    }
    let l = l
        .strip_prefix("- ")
        .or_else(|| l.strip_prefix("* "))
        .unwrap_or(l);
    let rest = l.strip_prefix("**")?;
    let (name, value) = rest.split_once(":**")?;
    let name = name.trim();
    (!name.is_empty()).then_some((name, value.trim()))
}

/// `## 2026-11-23 - Title` → (date, title).
pub fn parse_heading(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("##")?;
    if rest.starts_with('#') {
        return None;
    }
    let rest = rest.trim_start();
    let date = rest.get(..10)?;
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return None;
    }
    let rest = rest[10..].trim_start();
    let rest = rest.strip_prefix('-').or_else(|| rest.strip_prefix('—'))?;
    let title = rest.trim();
    (!title.is_empty()).then_some((date, title))
}

/// The lint line for task id `id` at `line`, first used at `first`.
pub fn duplicate_warning(line: usize, id: &str, first: usize) -> String {
    format!(
        "line {line}: task id `{id}` is also used at line {first}; `start` runs the first, `reorder` refuses both"
    )
}

/// What a `## ` line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heading {
    /// A card heading.
    Card,
    /// Looks like a card heading (`## <date> -`, or a bare `## `) but has
    /// no title: not a card. Promotion stops the card above at it.
    Untitled,
}

/// Whether `line` is a card heading or a heading without a title; `None`
/// for every other line (cheaply: only `## ` lines are looked at).
pub fn heading_kind(line: &str) -> Option<Heading> {
    let rest = line.strip_prefix("## ")?;
    if parse_heading(line).is_some() {
        return Some(Heading::Card);
    }
    let r = rest.trim();
    let dated = r.len() >= 10 && {
        let b = r.as_bytes();
        b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
    };
    let tail = r.get(10..).unwrap_or("").trim();
    (r.is_empty() || (dated && matches!(tail, "" | "-" | "—"))).then_some(Heading::Untitled)
}

/// The lint line for an untitled heading at `line`.
pub fn untitled_warning(line: usize) -> String {
    format!("line {line}: a card heading without a title; it is not a card, and its text is never run or archived with the card above (give it a title)")
}

/// Lowercase; runs of characters outside `[a-z0-9]` become `-`; trimmed;
/// empty becomes `task` (spec §3.1).
/// Whether a store's text may hold a card with id `id`: false only when it
/// certainly does not (no card builds; a `true` is confirmed by a scan).
/// A generated id `<date>__<slug>` needs a heading of that date whose title
/// slugs the same; an explicit `Task-ID` field needs the id's text.
pub fn may_hold_id(text: &str, id: &str) -> bool {
    if text.contains(id) {
        return true;
    }
    let Some((date, s)) = id.split_once("__") else {
        return true;
    };
    // Only lines holding the date can be headings of that date.
    text.match_indices(date).any(|(at, _)| {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        parse_heading(&text[start..end]).is_some_and(|(d, t)| d == date && slug_eq(t, s))
    })
}

/// `slug(title) == s` without building the slug (ASCII titles).
fn slug_eq(title: &str, s: &str) -> bool {
    if !title.is_ascii() {
        return slug(title) == s;
    }
    let mut want = s.bytes();
    let mut dash = false;
    let mut any = false;
    for c in title.bytes().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && any && want.next() != Some(b'-') {
                return false;
            }
            dash = false;
            any = true;
            if want.next() != Some(c) {
                return false;
            }
        } else {
            dash = true;
        }
    }
    if !any {
        return s == "task";
    }
    want.next().is_none()
}

pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    let lowered;
    let text = if text.is_ascii() {
        text
    } else {
        lowered = text.to_lowercase();
        &lowered
    };
    // Only ASCII letters and digits are kept, so bytes will do.
    for c in text.bytes().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(char::from(c));
        } else {
            dash = true;
        }
    }
    if out.is_empty() {
        "task".to_string()
    } else {
        out
    }
}

/// The longest slug used in a file name (a run directory, an intake id).
pub const MAX_FILE_SLUG: usize = 120;

/// [`slug`] bounded for a file name: a slug longer than `max` is cut and
/// ends in 8 hex digits of the text's SHA-256, so two long texts sharing a
/// prefix still get different names.
pub fn file_slug(text: &str, max: usize) -> String {
    let s = slug(text);
    if s.len() <= max {
        return s;
    }
    let hash = crate::defs::config::sha256_hex(text.as_bytes());
    let keep = max.saturating_sub(9).max(1);
    format!("{}-{}", s[..keep].trim_end_matches('-'), &hash[..8])
}

/// A store file: preamble plus cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFile {
    pub preamble: String,
    pub cards: Vec<Card>,
}

impl StoreFile {
    pub fn parse(text: &str) -> StoreFile {
        let (preamble, cards) = scan(text);
        StoreFile {
            preamble: preamble.to_string(),
            cards: cards.iter().map(CardRef::to_card).collect(),
        }
    }

    /// `preamble + "\n\n" + cards joined by "\n\n" + "\n"`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(
            self.preamble.len() + self.cards.iter().map(|c| c.raw.len() + 2).sum::<usize>() + 2,
        );
        out.push_str(&self.preamble);
        for card in &self.cards {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&card.raw);
        }
        out.push('\n');
        out
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_prefilter_never_misses_a_duplicate() {
        for title in [
            "Fix: the  parser!",
            "fix the parser",
            "Ünïcode title",
            "!!!",
            "a-b c",
        ] {
            assert!(slug_eq(title, &slug(title)), "{title}");
            assert!(!slug_eq(title, "something-else"), "{title}");
        }
        let text = "# Task Backlog\n\n## 2026-11-24 - Fix: the  parser!\n\n## 2026-11-23 - Other\n- **Task-ID:** custom-7\n";
        assert!(may_hold_id(text, "2026-11-24__fix-the-parser"));
        assert!(!may_hold_id(text, "2026-11-23__fix-the-parser"));
        assert!(may_hold_id(text, "custom-7"));
        assert!(!may_hold_id(text, "2026-11-24__new-task"));
    }

    const STORE: &str = "# Task Backlog\n\nSome notes.\n\n## 2026-11-23 - First demo task\n- **Spec-ID:** SPEC-1\n\nDo it.\n\n## Not a card heading\n\n## 2026-11-24 — Second: with/ symbols!\n**Task-ID:** custom-id\n";

    #[test]
    fn parses_cards_preamble_fields_and_ids() {
        let s = StoreFile::parse(STORE);
        assert_eq!(s.preamble, "# Task Backlog\n\nSome notes.");
        assert_eq!(s.cards.len(), 2);
        assert_eq!(s.cards[0].id, "2026-11-23__first-demo-task");
        assert_eq!(s.cards[0].spec_id.as_deref(), Some("SPEC-1"));
        assert!(
            s.cards[0].raw.contains("## Not a card heading"),
            "other ## headings belong to the card"
        );
        assert_eq!(s.cards[1].id, "custom-id");
        assert_eq!(s.cards[1].title, "Second: with/ symbols!");
    }

    #[test]
    fn rendering_round_trips() {
        let s = StoreFile::parse(STORE);
        let again = StoreFile::parse(&s.render());
        assert_eq!(s, again);
        assert_eq!(again.render(), s.render());
    }

    #[test]
    fn new_cards_match_v020_add_task() {
        let c = Card::new(
            "2026-11-23",
            "First demo task",
            Some("Body text"),
            Some("S-1"),
        );
        assert_eq!(
            c.raw,
            "## 2026-11-23 - First demo task\n- **Spec-ID:** S-1\n\nBody text"
        );
        assert_eq!(c.id, "2026-11-23__first-demo-task");
        assert_eq!(c.body(), "- **Spec-ID:** S-1\n\nBody text");
        assert_eq!(
            Card::new("2026-11-23", "!!!", None, None).id,
            "2026-11-23__task"
        );
    }

    #[test]
    fn task_view_fields_serialise_in_sorted_order() {
        let v = Card::new("2026-11-23", "T", None, Some("S")).view();
        let direct = serde_json::to_string(&v).unwrap();
        let sorted = serde_json::to_value(&v).unwrap().to_string();
        assert_eq!(direct, sorted);
    }

    #[test]
    fn empty_store_renders_preamble() {
        let s = StoreFile::parse("# Active Task\n");
        assert!(s.cards.is_empty());
        assert_eq!(s.render(), "# Active Task\n");
    }
}
