class DispatchIdConverter:
    """A dispatch id: a ULID here; the control plane's records may use other safe ids.
    Anything else never reaches the store: the URL does not match, which is a 404."""

    regex = "[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return str(value)


class IdConverter:
    """A UUID in its canonical lower-case text form, passed to views as a str."""

    regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return str(value)
