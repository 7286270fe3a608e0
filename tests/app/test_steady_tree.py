"""History's commit list keeps its sideways scroll when a row is clicked (trial 46: the # and
commit id columns scrolled out of sight and stayed so)."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem

from app.widgets.steady_tree import SteadyTree


def test_a_click_on_a_wide_cell_keeps_the_first_columns_in_sight(qtbot):
    tree = SteadyTree()
    qtbot.addWidget(tree)
    tree.setHeaderLabels(["#", "Commit", "Message"])
    for column, width in enumerate((30, 90, 900)):
        tree.setColumnWidth(column, width)
    tree.addTopLevelItems([QTreeWidgetItem([str(i), f"{i:012x}", "a long message " * 20]) for i in range(30)])
    tree.resize(300, 200)
    tree.show()
    qtbot.waitExposed(tree)
    item = tree.topLevelItem(25)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    tree.setCurrentItem(tree.topLevelItem(29), 2)
    assert tree.horizontalScrollBar().value() == 0
    assert tree.verticalScrollBar().value() > 0, "rows still scroll into sight"
