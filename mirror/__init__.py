"""The client core: offline SQLite mirrors, processors, the stream runtime. No Qt."""
