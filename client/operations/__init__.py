"""The SDK's operations, one module per spec tag, each a mixin of `client.sdk.Mitosis` on `Operations`."""
