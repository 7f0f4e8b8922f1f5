//! The server runtime's behaviour suite, written once and run against a SQLite file and
//! against the real PostgreSQL server (`SAI_TEST_POSTGRES_URL`; skipped when unset).

mod behaviour;
mod concurrency;
mod hardening;
mod harness;
mod support;

/// Instantiates each generic test once per backend.
macro_rules! suite {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let backend = crate::harness::Sqlite::new().await;
                    crate::$module::$test(backend).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let Some(backend) = crate::harness::Postgres::new(stringify!($test)).await
                    else {
                        return;
                    };
                    crate::$module::$test(backend).await;
                }
            )*
        }
    };
}

suite!(
    behaviour::accepted_intents_are_archived_and_projected,
    behaviour::rejection_is_recorded_and_advances_the_ack,
    behaviour::duplicate_upload_is_stored_once,
    behaviour::gap_in_sequence_waits,
    behaviour::client_order_holds_across_entities,
    behaviour::poison_intents_are_rejected_without_blocking,
    behaviour::stricter_server_machine_decides,
    behaviour::unauthorised_client_is_refused,
    behaviour::crash_mid_batch_writes_nothing,
    behaviour::worker_dying_mid_batch_leaves_nothing_behind,
    behaviour::transient_error_is_retried_not_rejected,
    behaviour::corrupt_rows_are_reported_and_kept,
    behaviour::process_intent_decides_one,
    behaviour::worker_loop_stops_cleanly,
    behaviour::reversed_upload_is_decided_in_order,
    behaviour::already_decided_leftovers_are_cleared_not_redecided,
    behaviour::only_the_owner_changes_an_entity,
    behaviour::projections_are_rebuilt_from_the_archive,
    behaviour::a_wakeup_ends_the_idle_wait,
    behaviour::a_dropped_stop_handle_stops_the_worker,
    behaviour::a_reused_id_or_sequence_number_is_refused,
    behaviour::another_intent_under_a_decided_sequence_number_is_refused_as_taken,
    behaviour::a_client_that_cannot_progress_does_not_starve_the_others,
    behaviour::an_unreadable_projection_stops_its_entity_not_the_batch,
    behaviour::projection_rows_record_their_decisions_and_a_rebuild_keeps_them,
    concurrency::four_workers_decide_each_intent_exactly_once,
    hardening::poison_intents_leave_every_other_client_decided,
    hardening::a_killed_connection_mid_batch_with_poison_is_retried_not_rejected,
    hardening::a_taken_sequence_number_is_refused_not_dropped,
    hardening::an_invalid_identity_is_refused_and_nothing_stored,
    hardening::a_store_error_says_what_the_database_said,
    hardening::a_value_the_database_refuses_is_found_and_rejected,
);
