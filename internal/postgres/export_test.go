package postgres

// ListenOutbox exposes one listening connection's loop, with its quiet
// period, to the tests.
var ListenOutbox = (*Store).listenOutbox
