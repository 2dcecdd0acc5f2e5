//! Unit tests of the queue: moves, depth memo, quarantine and thaw.

use super::*;

#[test]
fn queue_view_fields_serialise_in_sorted_order() {
    let q = Queue::new(Path::new("/nonexistent"));
    let view = q.view(true).unwrap();
    assert_eq!(
        serde_json::to_string(&view).unwrap(),
        serde_json::to_value(&view).unwrap().to_string()
    );
}

fn queue() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::new(dir.path());
    (dir, q)
}

fn card(title: &str) -> Card {
    Card::new("2026-11-23", title, Some("body"), None)
}

#[test]
fn add_promote_archive_moves_each_card_once() {
    let (dir, q) = queue();
    q.add(card("One")).unwrap();
    q.add(card("Two")).unwrap();
    assert!(matches!(q.add(card("One")), Err(QueueError::Invalid(_))));
    let (c, promoted) = q.active_or_promote().unwrap().unwrap();
    assert!(promoted);
    assert_eq!(c.id, "2026-11-23__one");
    let (again, promoted) = q.active_or_promote().unwrap().unwrap();
    assert_eq!((again.id.as_str(), promoted), ("2026-11-23__one", false));
    q.archive_active(&c.id).unwrap();
    let snap = q.snapshot().unwrap();
    assert!(snap.active.is_none());
    assert_eq!(snap.backlog.len(), 1);
    let archive = std::fs::read_to_string(dir.path().join(ARCHIVE)).unwrap();
    assert!(
        archive.starts_with("# Task Archive\n\n## 2026-11-23 - One\nbody"),
        "{archive}"
    );
}

#[test]
fn promote_reads_past_a_first_card_longer_than_a_chunk_and_keeps_the_rest_verbatim() {
    let (dir, q) = queue();
    let long_body = "ä line of a long card body\n".repeat(10_000); // ~270 KiB
    let rest = "## 2026-11-23 - Second\n\nbody two\n\n\n## 2026-11-23 - Third\nx\n";
    let text = format!(
        "# Task Backlog\n\nhand-written note\n\n## 2026-11-23 - First\n{long_body}\n{rest}"
    );
    std::fs::write(dir.path().join(BACKLOG), &text).unwrap();
    let (c, _) = q.active_or_promote().unwrap().unwrap();
    assert_eq!(c.id, "2026-11-23__first");
    assert_eq!(c.raw.lines().count(), 10_001);
    // The cut finishes in the background; a settled read waits for it.
    assert_eq!(q.backlog_depth().unwrap(), 2);
    assert!(!journal::pending(dir.path()));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(BACKLOG)).unwrap(),
        format!("# Task Backlog\n\nhand-written note\n\n{rest}"),
        "the preamble and the cards behind are untouched"
    );
    // The last card closes at the end of the file.
    q.archive_active(&c.id).unwrap();
    q.active_or_promote().unwrap();
    q.archive_active("2026-11-23__second").unwrap();
    let (last, _) = q.active_or_promote().unwrap().unwrap();
    assert_eq!(last.raw, "## 2026-11-23 - Third\nx");
    assert_eq!(q.backlog_depth().unwrap(), 0);
    q.archive_active(&last.id).unwrap();
    assert!(q.active_or_promote().unwrap().is_none());
}

#[test]
fn the_depth_index_follows_promotes_and_adds_and_a_hand_edit_is_recounted() {
    let (dir, q) = queue();
    for t in ["A", "B", "C"] {
        q.add(card(t)).unwrap();
    }
    assert_eq!(q.backlog_depth().unwrap(), 3);
    // Another process (a fresh queue) reads the index, not the file.
    let index = dir.path().join(".runtime/backlog_depth.json");
    assert!(index.exists());
    q.active_or_promote().unwrap();
    assert_eq!(Queue::new(dir.path()).backlog_depth().unwrap(), 2);
    q.add(card("D")).unwrap();
    assert_eq!(Queue::new(dir.path()).backlog_depth().unwrap(), 3);
    // A hand edit makes a different file: counted again.
    let text = std::fs::read_to_string(dir.path().join(BACKLOG)).unwrap();
    std::fs::write(
        dir.path().join(BACKLOG),
        format!("{text}\n## 2026-11-23 - E\n"),
    )
    .unwrap();
    assert_eq!(Queue::new(dir.path()).backlog_depth().unwrap(), 4);
    // A stale or broken index is ignored.
    std::fs::write(&index, "{not json").unwrap();
    assert_eq!(Queue::new(dir.path()).backlog_depth().unwrap(), 4);
}

#[test]
fn a_first_card_that_is_not_utf8_is_refused_with_the_file_and_nothing_moves() {
    let (dir, q) = queue();
    let mut text = b"# Task Backlog\n\n## 2026-11-23 - Bad \xff title\nbody\n".to_vec();
    std::fs::write(dir.path().join(BACKLOG), &text).unwrap();
    let err = q.active_or_promote().unwrap_err().to_string();
    assert!(
        err.contains("tasksbacklog.md") && err.contains("not UTF-8"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.path().join(BACKLOG)).unwrap(), text);
    assert!(q.active().unwrap().is_none());
    // A bad byte in a later card does not stop the first from running.
    text = b"## 2026-11-23 - Good\nbody\n\n## 2026-11-23 - Later \xff\n".to_vec();
    std::fs::write(dir.path().join(BACKLOG), &text).unwrap();
    assert_eq!(q.active_or_promote().unwrap().unwrap().0.title, "Good");
}

#[test]
fn reorder_validates_like_v020() {
    let (_d, q) = queue();
    for t in ["A", "B", "C"] {
        q.add(card(t)).unwrap();
    }
    let err = q
        .reorder(&["2026-11-23__c".into(), "2026-11-23__x".into()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "queue reorder must specify the full backlog order exactly once"
    );
    let err = q
        .reorder(&[
            "2026-11-23__c".into(),
            "2026-11-23__x".into(),
            "2026-11-23__y".into(),
        ])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "queue reorder id mismatch: unknown=2026-11-23__x,2026-11-23__y missing=2026-11-23__a,2026-11-23__b"
    );
    assert_eq!(
        q.reorder(&["2026-11-23__a".into(), "2026-11-23__a".into()])
            .unwrap_err()
            .to_string(),
        "queue reorder does not allow duplicate task ids"
    );
    let ids: Vec<String> = ["c", "a", "b"]
        .iter()
        .map(|s| format!("2026-11-23__{s}"))
        .collect();
    let order: Vec<String> = q.reorder(&ids).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(order, ids);
}

#[test]
fn quarantine_freezes_task_and_backlog() {
    let (dir, q) = queue();
    for t in ["A", "B", "C"] {
        q.add(card(t)).unwrap();
    }
    let (active, _) = q.active_or_promote().unwrap().unwrap();
    let out = q
        .quarantine(&QuarantineRequest {
            task_id: active.id.clone(),
            run_id: "r1".into(),
            run_dir: "agents/runs/r1".into(),
            stage: "consult".into(),
            reason: "needs a spec".into(),
            prompt_artifact: None,
            handoff: serde_json::json!({}),
        })
        .unwrap();
    assert_eq!(out.frozen_backlog_cards, 2);
    let snap = q.snapshot().unwrap();
    assert!(snap.active.is_none() && snap.backlog.is_empty());
    let bb = std::fs::read_to_string(dir.path().join(BACKBURNER)).unwrap();
    assert_eq!(StoreFile::parse(&bb).cards.len(), 3, "{bb}");
    assert!(bb.contains(&format!(
        "<!-- research_recovery:freeze:start {} -->",
        out.batch_id
    )));
    let blocker = std::fs::read_to_string(dir.path().join(BLOCKER)).unwrap();
    assert!(blocker.contains("- **Status:** `### NEEDS_RESEARCH`"));
    assert!(dir.path().join(LATCH).exists());
    assert!(dir
        .path()
        .join(out.incident_path.trim_start_matches("agents/"))
        .exists());

    // A frozen batch is listed, and thawed back to the front of the
    // backlog in order, ahead of what was added since.
    q.add(card("D")).unwrap();
    let batches = q.frozen_batches().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].batch_id, out.batch_id);
    assert_eq!(batches[0].task_ids.len(), 3);
    assert!(q
        .thaw(Some("nope"))
        .unwrap_err()
        .to_string()
        .contains("no frozen batch"));
    let thawed = q.thaw(None).unwrap();
    assert_eq!(thawed.task_ids, batches[0].task_ids);
    let titles: Vec<String> = q
        .snapshot()
        .unwrap()
        .backlog
        .iter()
        .map(|c| c.title.clone())
        .collect();
    assert_eq!(titles, ["A", "B", "C", "D"]);
    assert!(q.frozen_batches().unwrap().is_empty());
    let bb = std::fs::read_to_string(dir.path().join(BACKBURNER)).unwrap();
    assert!(!bb.contains("freeze:start"), "{bb}");
    let latch = std::fs::read_to_string(dir.path().join(LATCH)).unwrap();
    assert!(latch.contains("\"thawed\""), "{latch}");
    assert!(q
        .thaw(None)
        .unwrap_err()
        .to_string()
        .contains("nothing is frozen"));
}

#[test]
fn more_than_one_active_card_is_an_error() {
    let (dir, q) = queue();
    std::fs::write(
        dir.path().join(ACTIVE),
        "# Active Task\n\n## 2026-01-01 - A\n\n## 2026-01-01 - B\n",
    )
    .unwrap();
    assert!(q
        .snapshot()
        .unwrap_err()
        .to_string()
        .contains("at most one task may be active"));
}
