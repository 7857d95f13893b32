//! The `<Owner>` elements of responses: a user id and its display name (the user's name).

use crate::store::Store;
use bascule_api::xml;

/// Owner elements for one response: each user record is read once, however many
/// listed entries share that owner.
pub struct Owners<'a> {
    store: &'a Store,
    seen: std::cell::RefCell<std::collections::HashMap<String, xml::Owner>>,
}

impl<'a> Owners<'a> {
    pub fn new(store: &'a Store) -> Self {
        Owners {
            store,
            seen: Default::default(),
        }
    }

    pub fn get(&self, user_id: &str) -> xml::Owner {
        if let Some(o) = self.seen.borrow().get(user_id) {
            return o.clone();
        }
        let o = owner_of(self.store, user_id);
        self.seen
            .borrow_mut()
            .insert(user_id.to_string(), o.clone());
        o
    }
}

pub fn owner_of(store: &Store, user_id: &str) -> xml::Owner {
    let name = store
        .user(user_id)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| user_id.to_string());
    xml::Owner {
        id: user_id.to_string(),
        display_name: name,
    }
}
