"""XML from files people hand us, parsed without trusting them.

expat builds an ElementTree, with every document type declaration refused: no DTD means
no entity expansion (the "billion laughs"), no external entity and nothing fetched.
ELAN never writes a DOCTYPE, so a file with one is not ELAN's.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat


class XmlRefused(ValueError):
    """A document that is not well-formed, or declares a DTD or entities."""


def _refuse_declarations(*_args) -> None:
    raise XmlRefused("declares a document type or entities (DOCTYPE / ENTITY), which is refused")


def parse_untrusted_xml(data: bytes) -> Element:
    """The root element of `data`; XmlRefused (with the line) when it is not well-formed
    XML or declares a DTD or entities."""
    builder = TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.UnparsedEntityDeclHandler = _refuse_declarations
    parser.ExternalEntityRefHandler = _refuse_declarations
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise XmlRefused(f"line {error.lineno}: not well-formed XML ({expat.ErrorString(error.code)})") from None
    except XmlRefused as error:
        raise XmlRefused(f"line {parser.CurrentLineNumber}: {error}") from None
    return builder.close()
