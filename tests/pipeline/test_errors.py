"""pipeline/errors.py: every listed name is the class it means (where it is defined, so
is_user_error matches it), subclasses count, other errors do not."""

from __future__ import annotations

from pipeline.data.annotations import AnnotationError
from pipeline.errors import USER_ERROR_NAMES, is_user_error, user_error_classes
from pipeline.extract.ray_engine import RayEngineError


def test_every_listed_name_is_where_its_class_is_defined():
    classes = user_error_classes()  # LookupError for a name that only re-exports its class
    assert len(classes) == len(USER_ERROR_NAMES)
    assert all(issubclass(cls, BaseException) and is_user_error(cls.__new__(cls)) for cls in classes)


def test_user_errors_their_subclasses_and_nothing_else():
    assert is_user_error(AnnotationError("labels.csv: not a points file"))
    assert is_user_error(RayEngineError("no GPU"))  # a ConfigError
    assert not is_user_error(ValueError("a bug")) and not is_user_error(KeyError("a bug"))
