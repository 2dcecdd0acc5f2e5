//! Signals for foreground commands (`start --once`, `tui`): a thread with
//! a small runtime of its own hands each arriving signal to a callback.

use tokio::signal::unix::{signal, SignalKind};

/// Calls `each(n)` for the `n`th signal of `kinds` to arrive, until it
/// returns false. The handlers are installed on the thread, so a signal in
/// the first moments still has its default effect.
pub fn on_signals(kinds: Vec<SignalKind>, mut each: impl FnMut(u32) -> bool + Send + 'static) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for kind in kinds {
                let Ok(mut s) = signal(kind) else { return };
                let tx = tx.clone();
                tokio::spawn(
                    async move { while s.recv().await.is_some() && tx.send(()).is_ok() {} },
                );
            }
            drop(tx);
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
                if !each(n) {
                    break;
                }
            }
        });
    });
}
