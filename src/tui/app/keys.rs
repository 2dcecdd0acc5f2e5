//! Keys while an overlay is open: the palette, a form, a confirmation,
//! the expanded stream, the run detail.

use super::*;

impl App {
    /// Handles `code` when an overlay is open; false when none is.
    pub(super) fn overlay_key(&mut self, ws: &Workspace, code: KeyCode, ctrl: bool) -> bool {
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => return false,
            Overlay::Help => {
                if !matches!(code, KeyCode::Esc | KeyCode::Char('?' | 'q')) {
                    self.overlay = Overlay::Help;
                }
            }
            Overlay::Palette { query, selected } => {
                self.palette_key(ws, code, ctrl, query, selected)
            }
            Overlay::Form { form, input } => self.form_key(ws, code, ctrl, form, input),
            Overlay::Confirm(action) => {
                if matches!(code, KeyCode::Char('y' | 'Y')) {
                    self.run(ws, action);
                } else {
                    self.notify(format!("{}: cancelled", action.label()));
                }
            }
            Overlay::Stream => self.stream_key(code),
            Overlay::RunDetail { run_id, scroll } => self.detail_key(code, run_id, scroll),
        }
        true
    }

    fn palette_key(
        &mut self,
        ws: &Workspace,
        code: KeyCode,
        ctrl: bool,
        mut query: String,
        mut selected: usize,
    ) {
        let matches = palette_matches(&query);
        match code {
            KeyCode::Esc => {}
            KeyCode::Enter => {
                if let Some(a) = matches.get(selected).cloned() {
                    self.act(ws, a);
                }
            }
            KeyCode::Up => {
                selected = selected.saturating_sub(1);
                self.overlay = Overlay::Palette { query, selected };
            }
            KeyCode::Down => {
                selected = (selected + 1).min(matches.len().saturating_sub(1));
                self.overlay = Overlay::Palette { query, selected };
            }
            KeyCode::Backspace => {
                query.pop();
                self.overlay = Overlay::Palette { query, selected: 0 };
            }
            KeyCode::Char(c) if !ctrl => {
                query.push(c);
                self.overlay = Overlay::Palette { query, selected: 0 };
            }
            _ => self.overlay = Overlay::Palette { query, selected },
        }
    }

    fn form_key(
        &mut self,
        ws: &Workspace,
        code: KeyCode,
        ctrl: bool,
        form: Form,
        mut input: String,
    ) {
        match code {
            KeyCode::Esc => {}
            KeyCode::Enter => self.submit(ws, form, input.trim()),
            KeyCode::Backspace => {
                input.pop();
                self.overlay = Overlay::Form { form, input };
            }
            KeyCode::Char(c) if !ctrl => {
                input.push(c);
                self.overlay = Overlay::Form { form, input };
            }
            _ => self.overlay = Overlay::Form { form, input },
        }
    }

    fn stream_key(&mut self, code: KeyCode) {
        let total = self.snapshot.stream_lines(self.debug).len();
        match code {
            KeyCode::Esc | KeyCode::Char('e') => return,
            KeyCode::Up | KeyCode::Char('k') => {
                self.stream.offset = (self.stream.offset + 1).min(total.saturating_sub(1))
            }
            KeyCode::PageUp => {
                self.stream.offset = (self.stream.offset + 10).min(total.saturating_sub(1))
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.stream.offset = self.stream.offset.saturating_sub(1)
            }
            KeyCode::PageDown => self.stream.offset = self.stream.offset.saturating_sub(10),
            KeyCode::Char('l') | KeyCode::End => self.stream.offset = 0,
            KeyCode::Char('d') => self.debug = !self.debug,
            KeyCode::Char('q') => self.quit = true,
            _ => {}
        }
        self.overlay = Overlay::Stream;
    }

    fn detail_key(&mut self, code: KeyCode, run_id: String, scroll: u16) {
        let last = crate::tui::detail::detail(&self.snapshot.detail)
            .len()
            .saturating_sub(1) as u16;
        let scroll = match code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Backspace => return,
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
            KeyCode::PageUp => scroll.saturating_sub(10),
            KeyCode::PageDown => scroll.saturating_add(10),
            _ => scroll,
        }
        .min(last);
        self.overlay = Overlay::RunDetail { run_id, scroll };
    }
}
