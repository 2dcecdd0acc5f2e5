//! Unit tests of the TUI's state and keys: forms, reorder, the palette,
//! config edits, the stream, ideas, and a pseudo-random key walk.

use super::*;

#[test]
fn the_palette_filters_by_every_word() {
    assert_eq!(palette_matches("pub and push"), vec![Action::PublishPush]);
    assert_eq!(palette_matches("pa")[0], Action::Pause);
    assert_eq!(palette_matches("resu"), vec![Action::Resume]);
    assert_eq!(palette_matches("").len(), Action::palette().len());
    assert!(palette_matches("zzz").is_empty());
}

#[test]
fn slugs_are_safe_file_names() {
    assert_eq!(slug("Add a CSV export!"), "add-a-csv-export");
    assert_eq!(slug("../../etc"), "etc");
    assert_eq!(slug("???"), "idea");
}

fn ws() -> (tempfile::TempDir, Workspace, App) {
    let dir = tempfile::tempdir().unwrap();
    control::init::init(&dir.path().join("w"), false, false, &[]).unwrap();
    let ws = Workspace::open(&dir.path().join("w/millrace.toml")).unwrap();
    for t in ["First card", "Second card"] {
        control::queue::add_task(&ws, t, None, None, false).unwrap();
    }
    let mut app = App::new(Snapshot::load(&ws));
    app.gate = None;
    (dir, ws, app)
}

fn press(app: &mut App, ws: &Workspace, keys: &str) {
    for c in keys.chars() {
        app.key(ws, KeyEvent::from(KeyCode::Char(c)));
    }
}

fn special(app: &mut App, ws: &Workspace, code: KeyCode) {
    app.key(ws, KeyEvent::from(code));
}

fn reload(app: &mut App, ws: &Workspace) {
    let fresh = Snapshot::load_after(ws, Some(&mut app.snapshot));
    app.replace_snapshot(fresh);
}

fn titles(ws: &Workspace) -> Vec<String> {
    control::queue::view(ws, true)
        .unwrap()
        .backlog
        .into_iter()
        .map(|t| t.title)
        .collect()
}

#[test]
fn the_add_task_form_adds_through_control_and_esc_cancels() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, "2a");
    assert!(matches!(app.overlay, Overlay::Form { .. }));
    press(&mut app, &ws, "Third card");
    special(&mut app, &ws, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(titles(&ws), ["First card", "Second card", "Third card"]);
    assert!(app.notices.back().unwrap().1.contains("task added"));
    press(&mut app, &ws, "aNever");
    special(&mut app, &ws, KeyCode::Esc);
    assert_eq!(titles(&ws).len(), 3, "Esc sends nothing");
}

#[test]
fn cards_move_with_shift_k_and_j() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, "2j");
    assert_eq!(app.selected[Panel::Queue as usize], 1);
    press(&mut app, &ws, "K");
    assert_eq!(titles(&ws), ["Second card", "First card"]);
    assert_eq!(
        app.selected[Panel::Queue as usize],
        0,
        "the selection follows the card"
    );
    reload(&mut app, &ws);
    press(&mut app, &ws, "J");
    assert_eq!(titles(&ws), ["First card", "Second card"]);
}

#[test]
fn the_palette_runs_the_selected_action_and_confirms_stop() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, ":show run");
    special(&mut app, &ws, KeyCode::Enter);
    assert_eq!(app.panel, Panel::Runs);
    assert_eq!(app.overlay, Overlay::None);
    // Ctrl-P opens it too; stop asks first, and anything but y cancels.
    app.key(
        &ws,
        KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL),
    );
    press(&mut app, &ws, "stop");
    special(&mut app, &ws, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::Confirm(Action::Stop));
    press(&mut app, &ws, "n");
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.notices.back().unwrap().1.contains("cancelled"));
}

#[test]
fn a_config_edit_goes_through_config_set_validation() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, "6");
    let i = app
        .snapshot
        .config
        .iter()
        .position(|e| e.key == "execution.quickfix_max_attempts")
        .unwrap();
    app.selected[Panel::Config as usize] = i;
    special(&mut app, &ws, KeyCode::Enter);
    let Overlay::Form { input, .. } = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(input, "2", "the form starts from the current value");
    special(&mut app, &ws, KeyCode::Backspace);
    press(&mut app, &ws, "many");
    special(&mut app, &ws, KeyCode::Enter);
    let said = &app.notices.back().unwrap().1;
    assert!(said.contains("execution.quickfix_max_attempts"), "{said}");
    let text = std::fs::read_to_string(&ws.config_path).unwrap();
    assert!(!text.contains("many"), "a refused value is not written");
    special(&mut app, &ws, KeyCode::Enter);
    special(&mut app, &ws, KeyCode::Backspace);
    press(&mut app, &ws, "5");
    special(&mut app, &ws, KeyCode::Enter);
    let text = std::fs::read_to_string(&ws.config_path).unwrap();
    assert!(text.contains("quickfix_max_attempts = 5"), "{text}");
}

#[test]
fn the_stream_stops_following_when_scrolled_and_l_follows_again() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, "e");
    assert_eq!(app.overlay, Overlay::Stream);
    assert!(app.stream.following());
    special(&mut app, &ws, KeyCode::Up);
    assert_eq!(app.stream.offset, 1);
    // New events keep the scrolled view where it was.
    control::queue::add_task(&ws, "Arrives later", None, None, false).unwrap();
    reload(&mut app, &ws);
    assert_eq!(app.stream.offset, 2);
    press(&mut app, &ws, "l");
    assert!(app.stream.following());
    press(&mut app, &ws, "d");
    assert!(app.debug);
    special(&mut app, &ws, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn an_idea_from_the_form_lands_in_the_intake() {
    let (_d, ws, mut app) = ws();
    press(&mut app, &ws, "4i");
    press(&mut app, &ws, "Export as CSV");
    special(&mut app, &ws, KeyCode::Enter);
    let raw = ws.agents.join(crate::defs::layout::IDEAS_RAW);
    let names: Vec<String> = std::fs::read_dir(&raw)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("export-as-csv.md")),
        "{names:?}"
    );
    // The Research panel lists it under goalspec.
    reload(&mut app, &ws);
    let screen = super::super::view::text(&app, 80, 24);
    assert!(screen.contains("goalspec  1 item(s)"), "{screen}");
    assert!(screen.contains("  Export as CSV (ideas/raw/"), "{screen}");
}

/// Thousands of keys in a pseudo-random order (everything but the
/// palette, which could start processes) never panic, and selections
/// stay on a row.
#[test]
fn random_keys_never_panic_and_keep_selections_in_range() {
    let (_d, ws, mut app) = ws();
    let keys: Vec<KeyCode> = "1234567eEdjkKJatiflrq?/ xyn0"
        .chars()
        .map(KeyCode::Char)
        .chain([
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::End,
        ])
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..3000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let code = keys[(seed >> 33) as usize % keys.len()];
        // `:` never comes up, but a form or the palette may be open.
        app.key(&ws, KeyEvent::from(code));
        app.quit = false;
        if step % 50 == 0 {
            reload(&mut app, &ws);
        }
        let _ = super::super::view::text(&app, 80, 24);
        for p in Panel::ALL {
            let rows = app.rows(p);
            assert!(
                app.selected[p as usize] < rows.max(1),
                "{p:?} selection {} of {rows}",
                app.selected[p as usize]
            );
        }
    }
}
