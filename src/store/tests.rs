use super::*;
use crate::domain::event::EventKind;
use crate::domain::operation::sample;
use crate::domain::state::State;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), 1).unwrap();
    (dir, s)
}

fn create(s: &Store, id: &str, name: &str) -> Result<()> {
    s.write(|tx| {
        tx.insert_op(&sample(id, name))?;
        tx.event(id, 1, EventKind::Created, "created")
    })
}

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn a_state_change_and_its_event_commit_together() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    s.write(|tx| {
        let mut op = tx.op(A)?;
        op.go(State::Funded, 5).unwrap();
        tx.put_op(&op)?;
        tx.event(A, 5, EventKind::Funded, "funded")
    })
    .unwrap();
    assert_eq!(s.operation(A).unwrap().unwrap().state, State::Funded);
    let evs = s.events(A).unwrap();
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::Created, EventKind::Funded]
    );
}

#[test]
fn a_failed_event_write_rolls_the_change_back() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    s.fail_event_writes(true);
    let r = s.write(|tx| {
        let mut op = tx.op(A)?;
        op.go(State::Funded, 5).unwrap();
        tx.put_op(&op)?;
        tx.event(A, 5, EventKind::Funded, "funded")
    });
    assert!(r.is_err());
    s.fail_event_writes(false);
    assert_eq!(s.operation(A).unwrap().unwrap().state, State::AwaitingFunds);
    assert_eq!(s.events(A).unwrap().len(), 1);
}

#[test]
fn a_change_without_an_event_is_refused() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    let r = s.write(|tx| {
        let mut op = tx.op(A)?;
        op.problem = Some("x".into());
        tx.put_op(&op)
    });
    assert!(matches!(r, Err(StoreError::NoEvent(_))));
    assert_eq!(s.operation(A).unwrap().unwrap().problem, None);
}

#[test]
fn codenames_are_unique_and_findable() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    assert!(matches!(
        create(&s, B, "alpha"),
        Err(StoreError::CodenameTaken(_))
    ));
    assert!(s.operation(B).unwrap().is_none());
    assert_eq!(s.find_operation("ALPHA").unwrap().unwrap().id, A);
    assert_eq!(s.find_operation(A).unwrap().unwrap().codename, "alpha");
    assert!(s.find_operation("nope").unwrap().is_none());
}

#[test]
fn a_second_open_is_refused_with_a_clear_error() {
    let (d, _s) = open();
    let e = Store::open(d.path(), 2).err().unwrap();
    assert!(matches!(e, StoreError::Locked(_)), "{e}");
}

#[test]
fn an_older_store_is_backed_up_then_migrated() {
    let d = tempfile::tempdir().unwrap();
    migrate::write_v1(&Store::file_in(d.path()), &[sample(A, "alpha")]);
    let s = Store::open(d.path(), 77).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        s.find_operation("alpha").unwrap().unwrap().id,
        A,
        "codename index built"
    );
    assert!(d.path().join("backups/pre-migration-v1-77.redb").exists());
    assert!(s.node_operations().unwrap().is_empty());

    // An older store with a running node: the migration indexes it.
    let d = tempfile::tempdir().unwrap();
    let mut running = sample(B, "bravo");
    running.state = State::Active;
    migrate::write_v1(&Store::file_in(d.path()), &[sample(A, "alpha"), running]);
    let s = Store::open(d.path(), 78).unwrap();
    let nodes = s.node_operations().unwrap();
    assert_eq!(nodes.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [B]);
}

#[test]
fn the_node_index_follows_every_state_change() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    create(&s, B, "bravo").unwrap();
    let ids = |s: &Store| {
        s.node_operations()
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    let go = |to: State, at: i64| {
        s.write(|tx| {
            let mut op = tx.op(A)?;
            op.go(to, at).unwrap();
            tx.put_op(&op)?;
            tx.event(A, at, EventKind::Funded, format!("{to:?}"))
        })
        .unwrap()
    };
    assert!(ids(&s).is_empty());
    go(State::Funded, 2);
    assert!(ids(&s).is_empty());
    go(State::Launching, 3);
    assert_eq!(ids(&s), [A]);
    go(State::Active, 4);
    assert_eq!(ids(&s), [A]);
    go(State::LowFunds, 5);
    assert_eq!(ids(&s), [A]);
    go(State::Ended, 6);
    assert!(ids(&s).is_empty());
    // The index and a scan of every operation agree.
    let scanned: Vec<String> = s
        .operations_where(|o| o.state.has_node())
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids(&s), scanned);
}

#[test]
fn a_newer_store_is_refused() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = Store::open(d.path(), 1).unwrap();
        s.db.begin_write()
            .map(|t| {
                t.open_table(tables::META.def)
                    .unwrap()
                    .insert("schema_version", b"99".as_slice())
                    .unwrap();
                t.commit().unwrap();
            })
            .unwrap();
    }
    assert!(matches!(
        Store::open(d.path(), 1),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn backups_are_databases_with_the_same_content_and_restore() {
    let (d, s) = open();
    create(&s, A, "alpha").unwrap();
    let file = d.path().join("copy.redb");
    assert!(backup_to(&s, &file).unwrap() > 0);
    let empty = tempfile::tempdir().unwrap();
    restore_from(&file, empty.path()).unwrap();
    let r = Store::open(empty.path(), 1).unwrap();
    assert_eq!(r.find_operation("alpha").unwrap().unwrap().id, A);
    assert_eq!(r.events(A).unwrap().len(), 1);
}

#[test]
fn health_history_is_bounded() {
    let (_d, s) = open();
    for at in 0..10 {
        let h = HealthSample {
            at,
            reachable: true,
            height: at as u64,
            target_height: 9,
            synchronized: false,
            peers_in: 0,
            peers_out: 0,
            database_size: 0,
            status: "ok".into(),
        };
        s.write(|tx| tx.add_health(A, &h, 4)).unwrap();
    }
    let h = s.health(A).unwrap();
    assert_eq!(h.iter().map(|x| x.at).collect::<Vec<_>>(), [6, 7, 8, 9]);
}

#[test]
fn a_write_moves_the_generation_of_the_operations_it_touched_only() {
    let (_d, s) = open();
    assert_eq!(s.generation_of(A), 0);
    create(&s, A, "alpha").unwrap();
    create(&s, B, "beta").unwrap();
    let (a, b) = (s.generation_of(A), s.generation_of(B));
    assert!(a > 0 && b > a, "{a} {b}");
    // A health sample, a payout or an event of B leaves A's alone.
    let sample = HealthSample {
        at: 10,
        reachable: true,
        height: 1,
        target_height: 1,
        synchronized: true,
        peers_in: 0,
        peers_out: 0,
        database_size: 0,
        status: String::new(),
    };
    s.write(|tx| tx.add_health(B, &sample, 10)).unwrap();
    assert_eq!(s.generation_of(A), a);
    let after_health = s.generation_of(B);
    assert!(after_health > b);
    s.write(|tx| tx.event(B, 11, EventKind::Created, "noted"))
        .unwrap();
    assert!(s.generation_of(B) > after_health);
    // A write that touches no operation, or one that fails, moves nothing.
    s.write(|tx| tx.put_setting("k", &1)).unwrap();
    let _ = s.write(|tx| {
        tx.event(A, 12, EventKind::Created, "rolled back")?;
        Err::<(), _>(StoreError::Task("no".into()))
    });
    assert_eq!(s.generation_of(A), a);
    // Another operation's payout moves only its own.
    let before = s.generation_of(B);
    let p = crate::domain::payout::Payout {
        op_id: B.into(),
        seq: 1,
        at: 13,
        seconds: 3600,
        cost_per_hour: 1,
        price: 1,
        amount: 1,
        fee: 1,
        tx_hash: "h".into(),
        tx_metadata: String::new(),
        status: crate::domain::payout::PayoutStatus::Built,
        is_final: false,
        kind: Default::default(),
        key_images: Vec::new(),
        to: String::new(),
    };
    s.write(|tx| tx.put_payout(&p)).unwrap();
    assert!(s.generation_of(B) > before);
    assert_eq!(s.generation_of(A), a);
}

#[test]
fn one_wallet_account_is_never_stored_for_two_operations() {
    let (_d, s) = open();
    create(&s, A, "alpha").unwrap();
    let mut twin = sample(B, "bravo");
    twin.account_index = sample(A, "alpha").account_index;
    let e = s.write(|tx| tx.insert_op(&twin)).unwrap_err();
    assert!(matches!(e, StoreError::AccountTaken { .. }), "{e}");
    assert!(s.operation(B).unwrap().is_none(), "nothing stored");
    // An account recorded for nobody is not handed out either.
    s.write(|tx| tx.record_account(77, "x", None, 5)).unwrap();
    let mut late = sample(B, "bravo");
    late.account_index = 77;
    assert!(s.write(|tx| tx.insert_op(&late)).is_err());
    let accounts = s.accounts().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts.iter().find(|a| a.index == 77).unwrap().op_id, None);
}

#[test]
fn the_migration_records_every_operation_account() {
    let d = tempfile::tempdir().unwrap();
    migrate::write_v1(
        &Store::file_in(d.path()),
        &[sample(A, "alpha"), sample(B, "bravo")],
    );
    let s = Store::open(d.path(), 79).unwrap();
    let mut owners: Vec<_> = s.accounts().unwrap().into_iter().map(|a| a.op_id).collect();
    owners.sort();
    assert_eq!(owners, [Some(A.to_string()), Some(B.to_string())]);
}
