//! The coarse (1 s) loop timer: closes idle HTTP connections, WebSockets past their idle timeout
//! or lifetime, and closing sockets that never finished.

use crate::conn::{self, State};
use crate::event_loop::Loop;
use std::rc::Rc;

pub fn sweep(lp: &Rc<Loop>) {
    crate::ws_conn::trim_large_pool();
    uws_core::send_queue::trim_spare_buffers();
    let now = lp.tick.get();
    let expired: Vec<_> = {
        let conns = lp.conns.borrow();
        conns
            .keys()
            .into_iter()
            .filter(|k| {
                conns.get(*k).is_some_and(|c| {
                    let idle = c.timeout_at != 0 && c.timeout_at <= now;
                    // maxLifetime is its own deadline: traffic moves the idle one, not this.
                    let lifetime = matches!(&c.state,
                        State::Ws(w) if w.expires_at != 0 && w.expires_at <= now);
                    idle || lifetime
                })
            })
            .collect()
    };
    for key in expired {
        let kind = {
            let conns = lp.conns.borrow();
            match conns.get(key).map(|c| &c.state) {
                Some(State::Http(h)) if h.response_in_flight() => continue,
                Some(State::Http(_)) => 0,
                Some(State::Ws(_)) => 1,
                Some(State::Closing) => 2,
                None => continue,
            }
        };
        match kind {
            1 => crate::ws_conn::on_timeout(lp, key),
            _ => conn::remove(lp, key),
        }
    }
}
