"""The offload protocol, pure: messages, codec, error codes and connection state."""
