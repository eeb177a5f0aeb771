//! Registrations ordered across threads: each happens before the next, through a
//! lock, a channel or a join, so the exit must run them exactly newest first.
//!
//! Usage: `happens_before lock|channel|join`. Each handler records its number at
//! exit; a handler registered first, at the lowest priority, checks the numbers came
//! in exactly descending order and prints the verdict. The channel ring and the
//! joins interleave the threads' registrations enough for the registry to switch
//! from its counter to the clock midway (see `registry::stamp`), so the order is
//! checked across that switch too.

use std::sync::mpsc;
use std::sync::Mutex;

const THREADS: usize = 4;
const REGISTRATIONS: u64 = 20_000;

static RAN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn register_numbered(number: u64) {
    atexit::register(move || RAN.lock().unwrap().push(number));
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    atexit::register_with(i32::MIN, || {
        let ran = RAN.lock().unwrap();
        let expected: Vec<u64> = (0..REGISTRATIONS).rev().collect();
        match ran
            .iter()
            .zip(&expected)
            .position(|(ran, expected)| ran != expected)
        {
            None if ran.len() == expected.len() => {
                println!("{} handlers ran newest first", ran.len())
            }
            None => println!("{} handlers ran of {}", ran.len(), expected.len()),
            Some(at) => println!(
                "out of order at {at}: {:?}, expected {:?}",
                &ran[at.saturating_sub(2)..(at + 3).min(ran.len())],
                &expected[at.saturating_sub(2)..(at + 3).min(expected.len())]
            ),
        }
    });
    match mode.as_str() {
        // Threads race for a lock; whoever holds it registers the next number.
        "lock" => {
            let next = Mutex::new(0);
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| loop {
                        let mut next = next.lock().unwrap();
                        if *next == REGISTRATIONS {
                            break;
                        }
                        register_numbered(*next);
                        *next += 1;
                    });
                }
            });
        }
        // A token goes round a ring of threads through channels; its holder
        // registers the next number and passes it on.
        "channel" => {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..THREADS).map(|_| mpsc::channel::<u64>()).unzip();
            std::thread::scope(|scope| {
                for (index, receiver) in receivers.into_iter().enumerate() {
                    let next = senders[(index + 1) % THREADS].clone();
                    scope.spawn(move || {
                        while let Ok(number) = receiver.recv() {
                            if number == REGISTRATIONS {
                                let _ = next.send(number);
                                break;
                            }
                            register_numbered(number);
                            let _ = next.send(number + 1);
                        }
                    });
                }
                senders[0].send(0).unwrap();
                drop(senders);
            });
        }
        // Each number on a new thread, joined before the next starts; the main
        // thread registers every other one.
        "join" => {
            for number in (0..REGISTRATIONS).step_by(2) {
                std::thread::spawn(move || register_numbered(number))
                    .join()
                    .unwrap();
                register_numbered(number + 1);
            }
        }
        other => panic!("unknown mode {other:?}"),
    }
}
