//! An async Kafka-protocol client: connections, metadata, admin, producer and
//! consumer basics. Used by the CLI; talks to Gregor or Apache Kafka alike.
