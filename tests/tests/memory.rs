//! Memory per room membership, counted by a counting global allocator. This is its own
//! test binary (one test, run alone) so that nothing but the servers allocates while a
//! measurement runs.
//!
//! `cargo test -p pxl-ws-tests --test memory -- --nocapture` prints the figures that
//! `docs/security.md` quotes.

use std::alloc::System;

use pxl_ws::{ClientId, Frame, Target, WsConfig, WsServer, bus::MemoryBus};
use pxl_ws_tests::{TestClient, TestServer, eventually};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CLIENTS: usize = 200;
const ROOMS_PER_CLIENT: usize = 50;
const MEMBERSHIPS: usize = CLIENTS * ROOMS_PER_CLIENT;

/// What a malloc implementation adds to every live block (glibc: an 8-byte header, and
/// sizes rounded up to 16). The allocator counts requested bytes only.
const MALLOC_OVERHEAD: usize = 16;

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Every client in the same rooms: few rooms, many members each.
    Shared,
    /// Every room has one member: as many rooms as memberships (the worst case).
    Private,
}

impl Shape {
    fn room(self, client: usize, r: usize) -> String {
        match self {
            Shape::Shared => format!("room-{r:04}"),
            Shape::Private => format!("client-{client:04}-room-{r:02}"),
        }
    }

    fn rooms(self) -> usize {
        match self {
            Shape::Shared => ROOMS_PER_CLIENT,
            Shape::Private => MEMBERSHIPS,
        }
    }
}

/// Bytes still allocated per membership after the joins, requested and with the malloc
/// overhead of every live block.
#[derive(Debug)]
struct Cost {
    bytes: f64,
    with_overhead: f64,
}

fn net(region: &Region<'_, System>) -> (isize, isize) {
    let s = region.change();
    // A realloc's growth is counted in `bytes_allocated` (and its shrinking in
    // `bytes_deallocated`) already.
    let bytes = s.bytes_allocated as isize - s.bytes_deallocated as isize;
    let blocks = s.allocations as isize - s.deallocations as isize;
    (bytes, blocks)
}

fn per_membership((bytes, blocks): (isize, isize)) -> Cost {
    let n = MEMBERSHIPS as f64;
    Cost {
        bytes: bytes as f64 / n,
        with_overhead: (bytes + blocks * MALLOC_OVERHEAD as isize) as f64 / n,
    }
}

fn app(bus: &MemoryBus) -> pxl_ws::WsServerBuilder {
    WsServer::builder()
        .config(WsConfig::default())
        .bus(bus.clone())
}

/// Joins `CLIENTS` clients of one instance to `ROOMS_PER_CLIENT` rooms each (app-side
/// joins: no frame goes to the clients) and counts what stays allocated in the whole
/// process. With `peer`, a second instance on the same bus keeps its view of the
/// memberships too.
async fn measure(shape: Shape, peer: bool) -> Cost {
    let bus = MemoryBus::new();
    let s1 = TestServer::start(app(&bus)).await;
    let s2 = match peer {
        true => Some(TestServer::start(app(&bus)).await),
        false => None,
    };
    let mut clients: Vec<TestClient> = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(s1.connect().await);
    }
    let ids: Vec<ClientId> = clients.iter().map(|c| c.id.parse().unwrap()).collect();
    if let Some(s2) = &s2 {
        eventually("the peer knows every client", || {
            s2.handle.cluster_client_ids().len() == CLIENTS
        })
        .await;
    }
    let names: Vec<Vec<String>> = (0..CLIENTS)
        .map(|c| (0..ROOMS_PER_CLIENT).map(|r| shape.room(c, r)).collect())
        .collect();

    let region = Region::new(GLOBAL);
    for (id, rooms) in ids.iter().zip(&names) {
        for room in rooms {
            assert_eq!(s1.handle.join_room(*id, room), Some(true));
        }
    }
    if let Some(s2) = &s2 {
        eventually("the peer sees every membership", || {
            let list = s2.handle.rooms().list();
            list.len() == shape.rooms() && list.iter().map(|(_, n)| n).sum::<usize>() == MEMBERSHIPS
        })
        .await;
        // Barrier for instance 1's own bus stream: a send from the peer, published after
        // it saw every join, reaches a client of instance 1 only once instance 1 has
        // read past its own join events.
        let frame = Frame::new("t", "barrier", &1).unwrap();
        s2.handle.send(&Target::client(ids[0]), &frame);
        assert_eq!(clients[0].recv().await["action"], "barrier");
    }
    let cost = per_membership(net(&region));

    assert_eq!(s1.handle.rooms().len(), shape.rooms());
    drop(clients);
    s1.stop().await;
    if let Some(s2) = s2 {
        s2.stop().await;
    }
    cost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_per_room_membership_stays_bounded() {
    let mut report = Vec::new();
    for shape in [Shape::Shared, Shape::Private] {
        let local = measure(shape, false).await;
        let both = measure(shape, true).await;
        let remote = Cost {
            bytes: both.bytes - local.bytes,
            with_overhead: both.with_overhead - local.with_overhead,
        };
        report.push((shape, local, remote));
    }
    for (shape, local, remote) in &report {
        println!(
            "{shape:?} rooms, {MEMBERSHIPS} memberships: this instance {:.0} B ({:.0} B with malloc overhead) per membership; each peer's view {:.0} B ({:.0} B)",
            local.bytes, local.with_overhead, remote.bytes, remote.with_overhead
        );
    }
    for (shape, local, remote) in &report {
        // Measured: shared 33 / 43 B, private 157 / 157 B (with the malloc overhead).
        // Before room names were interned and member sets made compact: 64 / 97 B and
        // 347 / 339 B.
        let (local_max, remote_max) = match shape {
            Shape::Shared => (48.0, 60.0),
            Shape::Private => (200.0, 200.0),
        };
        assert!(
            local.with_overhead <= local_max,
            "{shape:?}: {:.0} B per membership on the instance holding the clients, bound {local_max} B",
            local.with_overhead
        );
        assert!(
            remote.with_overhead <= remote_max,
            "{shape:?}: {:.0} B per membership in a peer's view, bound {remote_max} B",
            remote.with_overhead
        );
    }
}
