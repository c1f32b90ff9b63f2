//! Following a static-ct-api "tiled" log: its signed checkpoint, then data tiles (partial
//! tiles at the right edge re-read as they fill), the start found by a search over the tiles
//! when `backfill` asks for one.

use super::*;

impl CtSource {
    /// A tiled log's checkpoint, its signature checked.
    async fn checkpoint(
        &self,
        ctx: &PollContext,
        log: &Log,
        monitoring: &Url,
        origin: &str,
    ) -> Result<TreeHead, SourceError> {
        let url = common::join_path(monitoring, "checkpoint");
        let key = log.key.as_ref().map_err(|e| SourceError::Setup {
            source_name: self.name.clone(),
            url: url.to_string(),
            message: format!("log `{}`: the public_key {e}", log.name),
        })?;
        let (_, body) = self.get_as(ctx, url.clone(), CHECKPOINT_ACCEPT).await?;
        checkpoint::verify_checkpoint(&body, origin, key, &log.log_id)
            .map_err(|e| self.payload(&url, CHECKPOINT_WHAT, e.to_string()))
    }

    /// Data tile `index` of a tree of `tree_size` entries: the partial tile when the tree ends
    /// inside it (or the full tile when the partial one is gone, 404), else the full tile. The
    /// capture, the body and the width served.
    async fn data_tile(
        &self,
        ctx: &PollContext,
        monitoring: &Url,
        index: u64,
        tree_size: u64,
    ) -> Result<(Capture, Vec<u8>, u64), SourceError> {
        let width = tree_size
            .saturating_sub(index.saturating_mul(TILE_WIDTH))
            .min(TILE_WIDTH);
        if width < TILE_WIDTH {
            let url = common::join_path(monitoring, &tile::data_tile_path(index, Some(width)));
            match self.get_as(ctx, url, TILE_ACCEPT).await {
                Err(SourceError::Fetch {
                    error: crate::fetcher::FetchError::Status { status: 404, .. },
                    ..
                }) => {
                    tracing::debug!(source = %self.name, tile = index, width, "partial tile gone; reading the full tile");
                }
                other => return other.map(|(c, b)| (c, b, width)),
            }
        }
        let url = common::join_path(monitoring, &tile::data_tile_path(index, None));
        let (capture, body) = self.get_as(ctx, url, TILE_ACCEPT).await?;
        Ok((capture, body, TILE_WIDTH))
    }

    /// Where to start reading a tiled log seen for the first time: the head, or the first
    /// entry logged inside `backfill` (a binary search over the tiles' first entries, then
    /// a look inside the tile before the first one that starts inside the window).
    async fn first_index_tiled(
        &self,
        ctx: &PollContext,
        monitoring: &Url,
        head: &TreeHead,
    ) -> Result<u64, SourceError> {
        let Some(back) = self.backfill else {
            return Ok(head.tree_size);
        };
        let since_ms = chrono::Duration::from_std(back)
            .ok()
            .and_then(|back| Utc::now().checked_sub_signed(back))
            .map_or(i64::MIN, |since| since.timestamp_millis());
        let stamp = |l: &tile::TileLeaf<'_>| leaf::leaf_timestamp(&l.merkle_leaf);
        let (mut lo, mut hi) = (0u64, head.tree_size.div_ceil(TILE_WIDTH));
        for _ in 0..MAX_PROBES {
            if lo >= hi {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            let (_, body, _) = self.data_tile(ctx, monitoring, mid, head.tree_size).await?;
            match tile::split_tile(&body, 1).leaves.first().and_then(stamp) {
                Some(t) if t < since_ms => lo = mid + 1,
                _ => hi = mid,
            }
        }
        let Some(before) = lo.checked_sub(1) else {
            return Ok(0);
        };
        let (_, body, served) = self
            .data_tile(ctx, monitoring, before, head.tree_size)
            .await?;
        let split = tile::split_tile(&body, served);
        let inside = split
            .leaves
            .iter()
            .position(|l| stamp(l).is_some_and(|t| t >= since_ms));
        Ok(
            inside.map_or(lo.saturating_mul(TILE_WIDTH).min(head.tree_size), |i| {
                before * TILE_WIDTH + i as u64
            }),
        )
    }

    /// [`follow`](Self::follow) for a static-ct-api log: the checkpoint, then the data tiles
    /// from the cursor's to the checkpoint's size, at most [`MAX_REQUESTS`] tiles a poll. The
    /// partial tile at the right edge is read up to the checkpoint's size, and again (from
    /// where it was left) once it has grown.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn follow_tiled(
        &self,
        ctx: &PollContext,
        log: &Log,
        monitoring: &Url,
        origin: &str,
        state: &mut LogState,
        fresh: bool,
        poll: &mut Poll,
    ) -> Result<(), SourceError> {
        let head = self.checkpoint(ctx, log, monitoring, origin).await?;
        if fresh {
            state.next = self.first_index_tiled(ctx, monitoring, &head).await?;
            tracing::info!(source = %self.name, log = %log.name, tree_size = head.tree_size, start = state.next, "following a new tiled CT log");
        }
        if head.tree_size < state.next {
            return Err(self.payload(
                &common::join_path(monitoring, "checkpoint"),
                CHECKPOINT_WHAT,
                format!(
                    "the tree size is {}, smaller than the {} entries already read; the log is misbehaving (cursor kept)",
                    head.tree_size, state.next
                ),
            ));
        }
        if ctx.lookalikes.is_none() && state.next < head.tree_size {
            tracing::warn!(source = %self.name, "no [[identity]] domains to compare certificates with: nothing is kept");
        }
        for _ in 0..MAX_REQUESTS {
            if state.next >= head.tree_size {
                break;
            }
            let index = state.next / TILE_WIDTH;
            let start = index * TILE_WIDTH;
            let covered = (head.tree_size - start).min(TILE_WIDTH);
            let (capture, body, served) = self
                .data_tile(ctx, monitoring, index, head.tree_size)
                .await?;
            let body = Arc::new(body);
            let read = read_tile_blocking(
                body.clone(),
                served,
                (state.next - start)..covered,
                ctx.lookalikes.clone(),
            )
            .await;
            let mut capture_at = None;
            for (offset, result) in read.entries {
                let at = start + offset;
                match result {
                    Ok(None) => {}
                    Ok(Some(found)) => {
                        let mut item = certificate_item(&self.name, &log.name, at, &found);
                        if self.home_page {
                            point_at_home_page(&mut item, &found);
                        }
                        item.matched_terms = ctx.watch.matches(&item.full_text());
                        // The tile is the capture: immutable, so anyone can fetch it again and
                        // compare the hash; several finds in one tile share it.
                        let c = *capture_at.get_or_insert_with(|| {
                            poll.captures.push((capture.clone(), body.to_vec()));
                            poll.captures.len() - 1
                        });
                        poll.items.push((c, item));
                    }
                    Err(err) => poll
                        .dropped
                        .push(format!("log `{}` entry {at}: {err}", log.name)),
                }
            }
            if read.framed < covered {
                let reason = read
                    .rest
                    .map_or_else(|| "the tile ends there".to_string(), |e| e.to_string());
                let from = start + read.framed.max(state.next - start);
                poll.dropped.push(format!(
                    "log `{}` entries {from} to {}: tile {index} cannot be read past its entry {}: {reason}",
                    log.name,
                    start + covered - 1,
                    read.framed,
                ));
            } else if let (Some(e), true) = (read.rest, served == covered) {
                poll.dropped.push(format!(
                    "log `{}` tile {index}: bytes after its {covered} entries ignored: {e}",
                    log.name
                ));
            }
            state.next = start + covered;
        }
        if state.next < head.tree_size {
            tracing::info!(source = %self.name, log = %log.name, behind = head.tree_size - state.next, "tiled CT log not caught up this poll; the next poll goes on");
        }
        Ok(())
    }
}

/// [`read_tile`] on a blocking thread, as [`read_batch`].
async fn read_tile_blocking(
    body: Arc<Vec<u8>>,
    width: u64,
    range: std::ops::Range<u64>,
    filter: Option<crate::HostFilter>,
) -> TileRead {
    let first = range.start;
    let read = move || {
        let keep = |name: &str| filter.as_ref().is_some_and(|f| f.matches(name));
        read_tile(&body, width, range, &keep)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "reading a CT tile failed on its blocking thread");
            TileRead {
                entries: Vec::new(),
                framed: first,
                rest: Some(LeafError::Certificate {
                    what: "tile",
                    message: format!("reading it failed: {e}"),
                }),
            }
        }
    }
}
