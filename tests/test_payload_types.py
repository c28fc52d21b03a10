import pytest

from codec.base import CodecError
from codec.payload_types import UnknownPayloadType, decoder_codec_name, payload_type
from codec.registry import codec_names, get_codec


def test_every_registered_codec_has_a_payload_type_that_decodes_it():
    for name in codec_names():
        pt = payload_type(name)
        assert 0 <= pt <= 63
        try:
            codec = get_codec(name)
        except CodecError:  # e.g. neural weights not exported in this checkout
            continue
        decoder = get_codec(decoder_codec_name(pt))
        assert (decoder.sample_rate, decoder.frame_samples) == (codec.sample_rate, codec.frame_samples)


def test_unknown_names_and_numbers_are_refused():
    with pytest.raises(UnknownPayloadType, match="mp3"):
        payload_type("mp3")
    with pytest.raises(UnknownPayloadType, match="63"):
        decoder_codec_name(63)
