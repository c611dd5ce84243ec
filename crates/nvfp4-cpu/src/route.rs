//! Routing (SPEC section 6 step 1): group the `(token, slot)` pairs by expert.
//!
//! Rows are grouped by local expert ascending, and inside an expert by `(t, j)` ascending. A slot
//! whose id is `-1`, or a valid id outside the local range `[e0, e1)` (expert parallelism), is
//! skipped. An id outside `[-1, E)` is bad: it is skipped too, and reported.
//!
//! ```
//! use nvfp4_cpu::route::Routing;
//! let mut r = Routing::new(2, 2, 4).unwrap(); // up to 2 tokens, top-2, 4 local experts
//! let report = r.route(&[3, 0, 0, -1], 2, 4, 0..4).unwrap();
//! assert_eq!(report.routed_rows, 3);
//! assert_eq!(r.offsets(), &[0, 2, 2, 2, 3]); // expert 0 has rows 0..2, expert 3 row 2
//! assert_eq!(r.row_slots(), &[1, 2, 0]); // flat slots t*k + j, grouped by expert
//! ```

use core::ops::Range;

use nvfp4_core::error::{Error, Result, check_len};

/// The slot-to-row value of a skipped slot.
pub const SKIPPED: u32 = u32::MAX;

/// What a routing pass found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteReport {
    /// Rows routed to local experts.
    pub routed_rows: usize,
    /// Slots with an id outside `[-1, E)` (skipped).
    pub bad_ids: usize,
    /// The first bad slot, as `(token, slot, id)`.
    pub first_bad: Option<(usize, usize, i32)>,
}

/// Routing buffers for up to `max_tokens` tokens, allocated once.
#[derive(Clone, Debug)]
pub struct Routing {
    top_k: usize,
    local_experts: usize,
    offsets: Vec<usize>,
    cursor: Vec<usize>,
    row_slot: Vec<u32>,
    slot_row: Vec<u32>,
    rows: usize,
    tokens: usize,
}

impl Routing {
    /// Allocates routing buffers for `max_tokens` tokens of `top_k` slots over `local_experts`.
    pub fn new(max_tokens: usize, top_k: usize, local_experts: usize) -> Result<Self> {
        if top_k == 0 {
            return Err(Error::ZeroDim { dim: "top_k" });
        }
        let slots = max_tokens.checked_mul(top_k).ok_or(Error::Overflow {
            what: "routing slots",
        })?;
        if u32::try_from(slots).is_err() {
            return Err(Error::InvalidParam {
                what: "routing slots (beyond u32)",
                value: slots,
            });
        }
        Ok(Routing {
            top_k,
            local_experts,
            offsets: vec![0; local_experts + 1],
            cursor: vec![0; local_experts],
            row_slot: vec![0; slots],
            slot_row: vec![SKIPPED; slots],
            rows: 0,
            tokens: 0,
        })
    }

    /// Routes `tokens` tokens (`topk_ids` is `[tokens, k]`) over `experts` global experts, of
    /// which `local` are held here (`local.len()` must equal the allocation's local count).
    /// Bad ids are skipped and counted; see [`Routing::route`] for the strict form.
    pub fn route_lenient(
        &mut self,
        topk_ids: &[i32],
        tokens: usize,
        experts: usize,
        local: Range<usize>,
    ) -> Result<RouteReport> {
        let k = self.top_k;
        let slots = tokens.checked_mul(k).ok_or(Error::Overflow {
            what: "routing slots",
        })?;
        if slots > self.slot_row.len() {
            return Err(Error::TooManyRows {
                rows: tokens,
                max: self.slot_row.len() / k.max(1),
            });
        }
        check_len("topk_ids", slots, topk_ids.len())?;
        if local.end > experts || local.len() != self.local_experts {
            return Err(Error::InvalidParam {
                what: "local expert range end",
                value: local.end,
            });
        }
        let mut report = RouteReport::default();
        let local_of = |id: i32| -> Option<usize> {
            let id = usize::try_from(id).ok()?;
            local.contains(&id).then(|| id - local.start)
        };
        // Count, prefix-sum, then place in (t, j) order: a stable counting sort.
        self.offsets.fill(0);
        for (s, &id) in topk_ids.iter().enumerate() {
            if id < -1 || id >= 0 && id as usize >= experts {
                report.bad_ids += 1;
                report.first_bad.get_or_insert((s / k, s % k, id));
            } else if let Some(e) = local_of(id) {
                self.offsets[e + 1] += 1;
            }
        }
        for e in 0..self.local_experts {
            self.offsets[e + 1] += self.offsets[e];
        }
        self.slot_row[..slots].fill(SKIPPED);
        self.cursor
            .copy_from_slice(&self.offsets[..self.local_experts]);
        for (s, &id) in topk_ids.iter().enumerate() {
            if let Some(e) = local_of(id) {
                let row = self.cursor[e];
                self.cursor[e] += 1;
                self.row_slot[row] = s as u32;
                self.slot_row[s] = row as u32;
            }
        }
        self.rows = self.offsets[self.local_experts];
        self.tokens = tokens;
        report.routed_rows = self.rows;
        Ok(report)
    }

    /// [`Routing::route_lenient`], but a bad expert id is an error (SPEC section 6.1, CPU side).
    pub fn route(
        &mut self,
        topk_ids: &[i32],
        tokens: usize,
        experts: usize,
        local: Range<usize>,
    ) -> Result<RouteReport> {
        let report = self.route_lenient(topk_ids, tokens, experts, local)?;
        match report.first_bad {
            Some((token, slot, id)) => Err(Error::BadExpertId { token, slot, id }),
            None => Ok(report),
        }
    }

    /// Row offsets per local expert (`local_experts + 1` entries): expert `e` owns rows
    /// `offsets[e]..offsets[e + 1]`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// For each routed row, its flat slot `t * k + j` (so its token is `slot / k`).
    pub fn row_slots(&self) -> &[u32] {
        &self.row_slot[..self.rows]
    }

    /// For each flat slot of the last call, its row or [`SKIPPED`].
    pub fn slot_rows(&self) -> &[u32] {
        &self.slot_row[..self.tokens * self.top_k]
    }

    /// Routed rows of the last call.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Slots per token.
    pub fn top_k(&self) -> usize {
        self.top_k
    }
}
