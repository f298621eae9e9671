//! Moving through a foldable tree drawn as a list (the decode pane's bencode tree, the Files
//! pane's file tree): node `i` is folded when `collapsed[i]`; `visible` lists the nodes on
//! screen, in order.

/// The node `delta` rows from `selected` among the visible ones (clamped to the list).
pub fn moved(visible: &[usize], selected: usize, delta: i64) -> usize {
    if visible.is_empty() {
        return selected;
    }
    let pos = visible.iter().position(|i| *i == selected).unwrap_or(0);
    let next = (pos as i64)
        .saturating_add(delta)
        .clamp(0, visible.len() as i64 - 1) as usize;
    visible[next]
}

/// Fold or unfold node `i` when it is a `branch`.
pub fn toggle(collapsed: &mut [bool], i: usize, branch: bool) {
    if branch && let Some(c) = collapsed.get_mut(i) {
        *c = !*c;
    }
}

/// Unfold node `i`.
pub fn expand(collapsed: &mut [bool], i: usize) {
    if let Some(c) = collapsed.get_mut(i) {
        *c = false;
    }
}

/// Fold node `i` when it is an open `branch`; otherwise the selection goes to its `parent`.
/// Returns the node selected afterwards.
pub fn collapse(collapsed: &mut [bool], i: usize, branch: bool, parent: Option<usize>) -> usize {
    let open = branch && !collapsed.get(i).copied().unwrap_or(true);
    if open {
        collapsed[i] = true;
        i
    } else {
        parent.unwrap_or(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_clamp_and_folding_goes_up_from_a_leaf() {
        assert_eq!(moved(&[0, 2, 5], 2, 1), 5);
        assert_eq!(moved(&[0, 2, 5], 2, 9), 5);
        assert_eq!(moved(&[0, 2, 5], 2, -9), 0);
        assert_eq!(moved(&[], 3, 1), 3);
        let mut c = vec![false, false];
        assert_eq!(collapse(&mut c, 0, true, None), 0);
        assert!(c[0]);
        assert_eq!(
            collapse(&mut c, 0, true, None),
            0,
            "folded, no parent: stays"
        );
        assert_eq!(
            collapse(&mut c, 1, false, Some(0)),
            0,
            "a leaf: to its parent"
        );
        toggle(&mut c, 0, true);
        assert!(!c[0]);
        toggle(&mut c, 1, false);
        assert!(!c[1], "a leaf does not fold");
        c[0] = true;
        expand(&mut c, 0);
        assert!(!c[0]);
    }
}
