"""What a lab writes for people and tools to read: SMS-format logs, status messages and the
lab's event stream."""
