from core.util.textdiff import Segment, changed_words, word_diff


def test_identical_texts_have_no_changes():
    old, new = word_diff("Paris, the capital.", "Paris, the capital.")
    assert old == new == [Segment("Paris, the capital.", False)]


def test_changed_word_is_marked_on_both_sides():
    old, new = word_diff(" Paris. It is big", " Berlin. It is big")
    assert old[0] == Segment(" ", False)
    assert Segment("Paris", True) in old
    assert Segment("Berlin", True) in new
    assert "".join(s.text for s in old) == " Paris. It is big"
    assert "".join(s.text for s in new) == " Berlin. It is big"
    assert not any(s.changed for s in new if "is big" in s.text)


def test_changed_words_counts_words_of_after():
    assert changed_words("the city of Paris", "the city of New York") == 2
    assert changed_words("same", "same") == 0
    assert changed_words("", "two words") == 2
