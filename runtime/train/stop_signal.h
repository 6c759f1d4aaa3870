// Ctrl-C (SIGINT) and SIGTERM during training: the first one asks the trainer to stop after the
// step it is in, save its checkpoint and return; a second one kills the process at once (the
// default action), for a run stuck somewhere no step ends.
//
// The handler only records the signal (an atomic flag); the trainer polls it between steps, where
// the state is whole and the checkpoint writer is safe to call.
#pragma once

namespace golf {

class Communicator;

// Installs the handlers for SIGINT and SIGTERM (system calls they interrupt are restarted).
void install_stop_handlers();
// Puts back the default actions: a signal from here on ends the process at once.
void remove_stop_handlers();
// The signal that asked for a stop (SIGINT or SIGTERM), 0 if none did.
int stop_signal();
// The stop decision every rank takes together: rank 0's stop_signal() (the ranks must stop after
// the same step, whichever of them the signal reached). One collective when distributed.
int agreed_stop_signal(Communicator& comm);
// "SIGINT", "SIGTERM", or "a signal".
const char* stop_signal_name(int sig);

}  // namespace golf
